package browser_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// The browser flows in real headless Chromium (Debian's chromium package).
// A missing browser fails these tests rather than skipping them: `make test`
// installs it.

const chromiumPath = "/usr/bin/chromium"

// chrome starts a fresh Chromium (no cookies) for one test and returns its
// context; every browser step is bounded by browserTimeout.
func chrome(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is required for the browser tests and was not found at %s (%v): install it with `apt-get install -y chromium` (make test does)", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(900, 760))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout (that
	// would stop the browser), so the start is bounded by a watchdog.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium: %v", err)
		}
	case <-time.After(browserTimeout):
		t.Fatal("Chromium did not start in time")
	}
	return ctx
}

const browserTimeout = 30 * time.Second

// run runs browser steps within browserTimeout.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func runFor[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// screenshot writes a full-page PNG to the artifacts folder for a person to
// look at: $TEST_ARTIFACTS_DIR, or test-artifacts at the repository root.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := runFor(t, ctx, chromedp.FullScreenshot(100))
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// callbackServer is the client's redirect URI on 127.0.0.1; it reports the
// URL of every request it gets.
func callbackServer(t *testing.T) (string, <-chan *url.URL) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits := make(chan *url.URL, 8)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // favicon.ico and the like
			return
		}
		select {
		case hits <- r.URL:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>callback</title><p>signed in</p>"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/callback", hits
}

func waitCallback(t *testing.T, hits <-chan *url.URL) *url.URL {
	t.Helper()
	select {
	case u := <-hits:
		return u
	case <-time.After(browserTimeout):
		t.Fatal("the browser never reached the callback")
		return nil
	}
}

// fillLogin types the credentials and submits the form.
func fillLogin(t *testing.T, ctx context.Context, username, password string) {
	t.Helper()
	run(t, ctx,
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
}

// allowConsent waits for the consent page and clicks Allow.
func allowConsent(t *testing.T, ctx context.Context) {
	t.Helper()
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("allow")), chromedp.Click(chromedp.ID("allow")))
}

func TestBrowserAuthorizationCodeFlow(t *testing.T) {
	ctx := chrome(t)
	f := newFixture(t)
	redirect, hits := callbackServer(t)
	cfg := codeClient(f, "webapp", redirect)
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{DisplayName: "Alice"})
	verifier, nonce := oauth2.GenerateVerifier(), "browser-nonce-1"
	authURL := cfg.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))

	run(t, ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("username")))
	if title := runFor(t, ctx, chromedp.Title()); title != "Sign in to Example App" {
		t.Errorf("title %q", title)
	}
	screenshot(t, ctx, "login-page")

	t.Run("wrong password shows an error and no code", func(t *testing.T) {
		fillLogin(t, ctx, "alice", "not-the-password")
		run(t, ctx, chromedp.WaitVisible(chromedp.CSS(".error")))
		if msg := runFor(t, ctx, chromedp.Text(chromedp.CSS(".error"))); !strings.Contains(msg, "incorrect") {
			t.Errorf("error message %q", msg)
		}
		screenshot(t, ctx, "login-page-wrong-password")
		select {
		case u := <-hits:
			t.Fatalf("the callback was reached: %v", u)
		default:
		}
	})

	// The page re-rendered after the failure keeps the username; clear it.
	run(t, ctx, chromedp.Clear(chromedp.ID("username")))
	fillLogin(t, ctx, "alice", pw)

	// The first sign-in to this client asks for consent; nothing reaches
	// the client before Allow.
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("allow")))
	if title := runFor(t, ctx, chromedp.Title()); title != "Allow Example App?" {
		t.Errorf("consent title %q", title)
	}
	if ns := runFor(t, ctx, chromedp.Text(chromedp.ID("client-namespace"))); ns != f.NS {
		t.Errorf("consent page names namespace %q, want %q", ns, f.NS)
	}
	if scopes := runFor(t, ctx, chromedp.Text(chromedp.ID("scopes"))); !strings.Contains(scopes, "offline_access") {
		t.Errorf("consent page scopes %q", scopes)
	}
	screenshot(t, ctx, "consent-page")
	select {
	case u := <-hits:
		t.Fatalf("the callback was reached before consent: %v", u)
	default:
	}
	allowConsent(t, ctx)
	cb := waitCallback(t, hits)
	if cb.Query().Get("state") != "browser-state" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %v", cb)
	}
	tok, err := cfg.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	verifyIDToken(t, cfg.ClientID, tok.Extra("id_token").(string), nonce, tok.AccessToken)

	// Signed in and consented: the next authorization needs no form.
	run(t, ctx, chromedp.Navigate(cfg.AuthCodeURL("second", oauth2.S256ChallengeOption(verifier))))
	if cb := waitCallback(t, hits); cb.Query().Get("state") != "second" || cb.Query().Get("code") == "" {
		t.Fatalf("second callback %v", cb)
	}
}

func TestBrowserUnregisteredRedirectURI(t *testing.T) {
	ctx := chrome(t)
	f := newFixture(t)
	redirect, hits := callbackServer(t)
	cfg := codeClient(f, "webapp", redirect)
	cfg.RedirectURL = strings.Replace(redirect, "/callback", "/evil", 1)
	run(t, ctx, chromedp.Navigate(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	if h1 := runFor(t, ctx, chromedp.Text(chromedp.CSS("h1"))); h1 != "Sign-in is not possible" {
		t.Errorf("heading %q", h1)
	}
	if loc := runFor(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, issuer+"/oauth/authorize") {
		t.Errorf("browser left the error page: %s", loc)
	}
	screenshot(t, ctx, "error-page")
	select {
	case u := <-hits:
		t.Fatalf("the unregistered redirect URI's host was reached: %v", u)
	default:
	}
}

func TestBrowserImplicitFlow(t *testing.T) {
	ctx := chrome(t)
	f := newFixture(t)
	redirect, hits := callbackServer(t)
	id, _ := f.Client("legacy-spa", v1alpha1.OAuthClientSpec{Public: true, DisplayName: "Legacy SPA",
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantImplicit}, Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirect}})
	codeOnly := codeClient(f, "modern", redirect)
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	q := url.Values{"client_id": {id}, "redirect_uri": {redirect}, "response_type": {"id_token token"}, "scope": {"openid profile"}, "state": {"imp"}, "nonce": {"imp-nonce"}}

	run(t, ctx, chromedp.Navigate(issuer+"/oauth/authorize?"+q.Encode()))
	fillLogin(t, ctx, "alice", pw)
	allowConsent(t, ctx)
	if cb := waitCallback(t, hits); cb.RawQuery != "" {
		t.Fatalf("the implicit response reached the server in the query: %v", cb)
	}
	frag := fragmentOf(t, ctx, redirect)
	if frag.Get("state") != "imp" || frag.Get("access_token") == "" || frag.Has("refresh_token") {
		t.Fatalf("fragment %v", frag)
	}
	verifyIDToken(t, id, frag.Get("id_token"), "imp-nonce", frag.Get("access_token"))

	// A client that did not opt in is refused, in the fragment too.
	q.Set("client_id", codeOnly.ClientID)
	run(t, ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(issuer+"/oauth/authorize?"+q.Encode()))
	waitCallback(t, hits)
	if frag := fragmentOf(t, ctx, redirect); frag.Get("error") != "unauthorized_client" || frag.Has("access_token") {
		t.Fatalf("implicit for a client without it: %v", frag)
	}
}

// fragmentOf reads the fragment of the callback page once the browser is
// on it; a fragment never reaches a server.
func fragmentOf(t *testing.T, ctx context.Context, callback string) url.Values {
	t.Helper()
	deadline := time.Now().Add(browserTimeout)
	var raw string
	for raw = runFor(t, ctx, chromedp.Location()); !strings.HasPrefix(raw, callback); raw = runFor(t, ctx, chromedp.Location()) {
		if time.Now().After(deadline) {
			t.Fatalf("the browser is on %s, not the callback", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	loc, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, err := url.ParseQuery(loc.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

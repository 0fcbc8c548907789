package browser_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/onsi/gomega"
	"golang.org/x/oauth2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// browser keeps cookies and follows no redirect, and walks the login and
// consent pages (servertest.Browser); page is one answer to it.
type (
	browser = servertest.Browser
	page    = testhttp.Page
)

func newBrowser(t *testing.T) *browser { return servertest.NewBrowser(t) }

// codeClient is a confidential client of the code flow with refresh tokens.
func codeClient(f *fixture, name string, redirects ...string) oauth2.Config {
	id, secret := f.Client(name, v1alpha1.OAuthClientSpec{
		DisplayName:  "Example App",
		GrantTypes:   []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "email", "offline_access", "api"},
		RedirectURIs: redirects,
	})
	return oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirects[0], Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth/authorize", TokenURL: issuer + "/oauth/token"}}
}

func verifyIDToken(t *testing.T, clientID, raw, nonce, accessToken string) *oidc.IDToken {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	if tok.Nonce != nonce {
		t.Fatalf("nonce %q, want %q", tok.Nonce, nonce)
	}
	if accessToken != "" {
		if tok.AccessTokenHash == "" {
			t.Fatal("id_token has no at_hash")
		}
		if err := tok.VerifyAccessToken(accessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
	}
	return tok
}

func TestAuthorizationCodeFlow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	alice, pw := f.User("alice", v1alpha1.OAuthUserSpec{DisplayName: "Alice"})
	verifier, nonce := oauth2.GenerateVerifier(), "n-0S6_WzA2Mj"
	authURL := cfg.AuthCodeURL("st&ate=1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))

	b := newBrowser(t)
	login := b.Get(authURL)
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:8080; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY", "Cache-Control": "no-store",
	} {
		if got := login.Header.Get(k); got != want {
			t.Errorf("login page %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(login.Body, "Example App") || !strings.Contains(login.Body, `<label for="username">`) {
		t.Errorf("login page lacks the client name or labels:\n%s", login.Body)
	}
	loc := b.SignIn(issuer, authURL, "alice", pw)
	q := loc.Query()
	if loc.Host != "127.0.0.1:8080" || q.Get("state") != "st&ate=1" || q.Get("iss") != issuer || !strings.HasPrefix(q.Get("code"), "twc_") {
		t.Fatalf("redirect %v", loc)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idTok := verifyIDToken(t, cfg.ClientID, tok.Extra("id_token").(string), nonce, tok.AccessToken)
	if idTok.Subject != string(alice.UID) {
		t.Errorf("sub %q", idTok.Subject)
	}
	var claims struct {
		AuthTime int64  `json:"auth_time"`
		Name     string `json:"name"`
	}
	if err := idTok.Claims(&claims); err != nil || claims.AuthTime == 0 || claims.Name != "Alice" {
		t.Errorf("id_token claims %+v %v", claims, err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token although offline_access was granted")
	}
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}

	// The session cookie answers the next request without the form.
	again := b.Get(cfg.AuthCodeURL("two", oauth2.S256ChallengeOption(verifier)))
	if again.Status != http.StatusFound || again.Location.Query().Get("code") == "" || again.Location.Query().Get("state") != "two" {
		t.Fatalf("with a session: %d %v", again.Status, again.Location)
	}
	// prompt=login asks again; prompt=none without a session is login_required.
	servertest.LoginFields(t, b.Get(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login"))))
	none := newBrowser(t).Get(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))
	if none.Status != http.StatusFound || none.Location.Query().Get("error") != "login_required" || none.Location.Query().Get("state") != "x" {
		t.Fatalf("prompt=none: %d %v", none.Status, none.Location)
	}
}

func TestAuthorizationCodeReuseRevokes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	verifier := oauth2.GenerateVerifier()
	loc := newBrowser(t).SignIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", pw)
	code := loc.Query().Get("code")
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); servertest.ErrorCode(err) != "invalid_grant" {
		t.Fatalf("second use: %v", err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); servertest.ErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh token of a reused code still works: %v", err)
	}
	eventually(t, func() any {
		return introspect(t, cfg.ClientID, cfg.ClientSecret, tok.AccessToken)["active"]
	}).Should(gomega.BeFalse(), "access token of a reused code still active")
}

func TestAuthorizationCodeExchangeRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback", "http://127.0.0.1:8080/other")
	other := codeClient(f, "other", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	code := b.SignIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", pw).Query().Get("code")
	elsewhere := cfg
	elsewhere.RedirectURL = "http://127.0.0.1:8080/other"
	tests := []struct {
		name string
		cfg  oauth2.Config
		opts []oauth2.AuthCodeOption
	}{
		{"wrong verifier", cfg, []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
		{"no verifier", cfg, nil},
		{"redirect_uri mismatch", elsewhere, []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}},
		{"another client", other, []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.cfg.Exchange(ctx, code, tt.opts...); servertest.ErrorCode(err) != "invalid_grant" {
				t.Fatalf("want invalid_grant, got %v", err)
			}
		})
	}
	// A refused exchange does not use the code up.
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange after refusals: %v", err)
	}
	// A verifier for a code issued without PKCE is a downgrade attempt.
	loc := b.Get(cfg.AuthCodeURL("s"))
	if _, err := cfg.Exchange(ctx, loc.Location.Query().Get("code"), oauth2.VerifierOption(verifier)); servertest.ErrorCode(err) != "invalid_grant" {
		t.Fatalf("verifier without challenge: %v", err)
	}
}

func TestAuthorizationCodeExpires(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	cfg.Endpoint = oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token"}
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	verifier := oauth2.GenerateVerifier()
	loc := newBrowser(t).SignIn(base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", pw)
	clk.Step(61 * time.Second)
	if _, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier)); servertest.ErrorCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
	}
}

func TestLoginForm(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	b := newBrowser(t)
	v := servertest.LoginFields(t, b.Get(authURL))
	v.Set("username", "alice")
	v.Set("password", pw)

	t.Run("wrong password and unknown user read the same", func(t *testing.T) {
		var bodies []string
		for _, user := range []string{"alice", "nobody"} {
			w := maps(v, "username", user, "password", "wrong")
			p := b.PostForm(issuer+"/oauth/login", w)
			if p.Status != http.StatusOK || p.Location != nil || !strings.Contains(p.Body, "The username or password is incorrect.") {
				t.Fatalf("%s: %d %v\n%s", user, p.Status, p.Location, p.Body)
			}
			bodies = append(bodies, testhttp.HiddenInput.ReplaceAllString(strings.ReplaceAll(p.Body, user, ""), ""))
		}
		if bodies[0] != bodies[1] {
			t.Error("the pages for an unknown user and a wrong password differ")
		}
	})
	t.Run("missing CSRF token", func(t *testing.T) {
		w := maps(v, "csrf_token", "")
		if p := b.PostForm(issuer+"/oauth/login", w); p.Status != http.StatusForbidden || p.Location != nil {
			t.Fatalf("%d %v", p.Status, p.Location)
		}
	})
	t.Run("CSRF token from another browser", func(t *testing.T) {
		if p := newBrowser(t).PostForm(issuer+"/oauth/login", v); p.Status != http.StatusForbidden || p.Location != nil {
			t.Fatalf("%d %v", p.Status, p.Location)
		}
	})
	t.Run("changed hidden field", func(t *testing.T) {
		w := maps(v, "scope", "openid api")
		if p := b.PostForm(issuer+"/oauth/login", w); p.Status != http.StatusForbidden {
			t.Fatalf("%d %v", p.Status, p.Location)
		}
	})
	t.Run("valid", func(t *testing.T) {
		p := b.Decide(issuer, b.PostForm(issuer+"/oauth/login", v), "allow")
		if p.Status != http.StatusSeeOther || p.Location.Query().Get("code") == "" {
			t.Fatalf("%d %v\n%s", p.Status, p.Location, p.Body)
		}
	})
}

// maps returns a copy of v with the given keys set.
func maps(v url.Values, kv ...string) url.Values {
	w := url.Values{}
	for k, vs := range v {
		w[k] = slices.Clone(vs)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		w.Set(kv[i], kv[i+1])
	}
	return w
}

func TestAuthorizeRequestErrors(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback", "http://127.0.0.1:8080/other")
	cc, _ := f.Client("machine", v1alpha1.OAuthClientSpec{RedirectURIs: []string{"http://127.0.0.1:8080/callback"}})
	pub, _ := f.Client("spa", v1alpha1.OAuthClientSpec{Public: true, Scopes: []string{"openid"},
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, RedirectURIs: []string{"https://spa.example/cb"}})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	page := func(q url.Values) string { return issuer + "/oauth/authorize?" + q.Encode() }
	base := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {cfg.RedirectURL}, "response_type": {"code"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}

	pages := []struct {
		name string
		q    url.Values
	}{
		{"unregistered redirect_uri", maps(base, "redirect_uri", "http://127.0.0.1:8080/evil")},
		{"missing redirect_uri with two registered", maps(base, "redirect_uri", "")},
		{"unknown client", maps(base, "client_id", "nope")},
		{"client without browser grants", maps(base, "client_id", cc)},
	}
	for _, tt := range pages {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if q.Get("redirect_uri") == "" {
				q.Del("redirect_uri")
			}
			p := newBrowser(t).Get(page(q))
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "Sign-in is not possible") {
				t.Fatalf("%d %q\n%s", p.Status, p.Header.Get("Location"), p.Body)
			}
		})
	}

	redirects := []struct {
		name, want string
		q          url.Values
	}{
		{"public client without PKCE", "invalid_request", url.Values{"client_id": {pub}, "response_type": {"code"}, "state": {"s"}}},
		{"plain PKCE not allowed", "invalid_request", maps(base, "code_challenge_method", "plain", "code_challenge", oauth2.GenerateVerifier())},
		{"unknown response_type", "unsupported_response_type", maps(base, "response_type", "code id_token")},
		{"implicit not allowed", "unauthorized_client", maps(base, "response_type", "token")},
		{"scope outside the client's", "invalid_scope", maps(base, "scope", "openid admin")},
		{"missing response_type", "invalid_request", maps(base, "response_type", "")},
		{"bad prompt", "invalid_request", maps(base, "prompt", "none login")},
		{"prompt select_account is not offered", "invalid_request", maps(base, "prompt", "select_account")},
	}
	for _, tt := range redirects {
		t.Run(tt.name, func(t *testing.T) {
			p := newBrowser(t).Get(page(tt.q))
			if p.Status != http.StatusFound || p.Location == nil {
				t.Fatalf("%d\n%s", p.Status, p.Body)
			}
			got := p.Location.Query()
			if p.Location.Fragment != "" {
				got, _ = url.ParseQuery(p.Location.Fragment)
			}
			if got.Get("error") != tt.want || got.Get("state") != "s" || got.Get("iss") != issuer {
				t.Fatalf("redirect %v", p.Location)
			}
		})
	}
}

func TestImplicitFlow(t *testing.T) {
	f := newFixture(t)
	id, _ := f.Client("legacy-spa", v1alpha1.OAuthClientSpec{Public: true, DisplayName: "Legacy SPA",
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantImplicit}, Scopes: []string{"openid", "profile"},
		RedirectURIs: []string{"https://spa.example/cb"}})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	q := url.Values{"client_id": {id}, "response_type": {"id_token token"}, "scope": {"openid profile"}, "state": {"s"}, "nonce": {"n1"}}
	b := newBrowser(t)
	loc := b.SignIn(issuer, issuer+"/oauth/authorize?"+q.Encode(), "alice", pw)
	if loc.RawQuery != "" {
		t.Fatalf("tokens in the query: %v", loc)
	}
	frag, err := url.ParseQuery(loc.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	if frag.Get("state") != "s" || frag.Get("token_type") != "Bearer" || frag.Get("access_token") == "" || frag.Has("refresh_token") {
		t.Fatalf("fragment %v", frag)
	}
	verifyIDToken(t, id, frag.Get("id_token"), "n1", frag.Get("access_token"))

	// id_token alone needs a nonce, and then carries no at_hash.
	noNonce := b.Get(issuer + "/oauth/authorize?" + maps(q, "response_type", "id_token", "nonce", "").Encode())
	if frag, _ := url.ParseQuery(noNonce.Location.Fragment); frag.Get("error") != "invalid_request" {
		t.Fatalf("id_token without nonce: %v", noNonce.Location)
	}
	only := b.Get(issuer + "/oauth/authorize?" + maps(q, "response_type", "id_token").Encode())
	frag, _ = url.ParseQuery(only.Location.Fragment)
	if frag.Has("access_token") {
		t.Fatalf("id_token response with an access token: %v", frag)
	}
	verifyIDToken(t, id, frag.Get("id_token"), "n1", "")
}

func TestDiscoveryAdvertisesBrowserFlows(t *testing.T) {
	r := struct{ Body map[string]any }{getJSON(t, issuer+"/.well-known/openid-configuration")}
	if r.Body["authorization_endpoint"] != issuer+"/oauth/authorize" {
		t.Fatalf("authorization_endpoint %v", r.Body["authorization_endpoint"])
	}
	for k, want := range map[string]string{"response_types_supported": "code", "code_challenge_methods_supported": "S256", "grant_types_supported": "authorization_code"} {
		list, _ := r.Body[k].([]any)
		if !slices.Contains(list, any(want)) {
			t.Errorf("%s = %v lacks %q", k, r.Body[k], want)
		}
	}
	if list, _ := r.Body["code_challenge_methods_supported"].([]any); slices.Contains(list, any("plain")) {
		t.Error("plain PKCE advertised")
	}
	// Only the prompts that work (select_account is refused).
	if got, _ := r.Body["prompt_values_supported"].([]any); !slices.Equal(got, []any{"none", "login", "consent"}) {
		t.Errorf("prompt_values_supported = %v", got)
	}
}

func TestLoginFormIsThrottled(t *testing.T) {
	f := newFixture(t)
	base := startServer(t, tokenserver.Options{UserThrottle: throttle.Config{MaxFailures: 2, Window: time.Minute, MaxKeys: 100}})
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	v := servertest.LoginFields(t, b.Get(base+"/oauth/authorize?"+url.Values{"client_id": {cfg.ClientID}, "response_type": {"code"}}.Encode()))
	for range 2 {
		b.PostForm(base+"/oauth/login", maps(v, "username", "alice", "password", "wrong"))
	}
	p := b.PostForm(base+"/oauth/login", maps(v, "username", "alice", "password", pw))
	if p.Location != nil || !strings.Contains(p.Body, "Too many failed attempts") {
		t.Fatalf("third attempt: %d %v\n%s", p.Status, p.Location, p.Body)
	}
}

func TestAuthorizationCodeSingleUseAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	second := startServer(t, tokenserver.Options{})
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	servertest.CodeSingleUseAcrossReplicas(t, cfg, issuer, second, "alice", pw, 1)
}

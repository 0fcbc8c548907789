package browser_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// The consent step (issue 11, attack 4): a client someone registered with a
// redirect URI of their own gets nothing from a signed-in user without the
// user's Allow.

// publicClient registers a public code-flow client with its own redirect
// URI, as anyone allowed to create OAuthClients in the namespace can.
func publicClient(f *fixture, name, redirect string, scopes ...string) string {
	id, _ := f.Client(name, v1alpha1.OAuthClientSpec{Public: true, DisplayName: "Totally Legit",
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken},
		Scopes:     scopes, RedirectURIs: []string{redirect}})
	return id
}

// authorizeURL is an S256 code request of client id.
func authorizeURL(base, id string, extra ...string) string {
	q := url.Values{"client_id": {id}, "response_type": {"code"}, "state": {"st"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	return base + "/oauth/authorize?" + maps(q, extra...).Encode()
}

// signedIn returns a browser of user signed in (through the consented
// client app of f), and that client's config.
func signedIn(t *testing.T, f *fixture, user string) (*browser, oauth2.Config) {
	t.Helper()
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User(user, v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	b.SignIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), user, pw)
	return b, cfg
}

// wantRedirect checks a redirect to the client carrying error (none for a
// code) and the request's state.
func wantRedirect(t *testing.T, p page, host, wantErr string) url.Values {
	t.Helper()
	if p.Status != http.StatusFound && p.Status != http.StatusSeeOther || p.Location == nil || p.Location.Host != host {
		t.Fatalf("want a redirect to %s, got %d %v\n%s", host, p.Status, p.Location, p.Body)
	}
	q := p.Location.Query()
	if q.Get("error") != wantErr || q.Get("state") != "st" || q.Get("iss") != issuer {
		t.Fatalf("redirect %v, want error %q", p.Location, wantErr)
	}
	if wantErr != "" && q.Has("code") {
		t.Fatalf("a code came with %s: %v", wantErr, p.Location)
	}
	return q
}

// TestConsentAttackPromptNone is attack 4: someone registers a public client
// with a redirect URI of their own and sends a signed-in user a prompt=none
// link. The answer is consent_required, never a code; without prompt=none
// the user sees the consent page; a client of another namespace gets
// login_required (the session is the user's namespace's only).
func TestConsentAttackPromptNone(t *testing.T) {
	f := newFixture(t)
	b, _ := signedIn(t, f, "alice")
	evil := publicClient(f, "evil", "https://evil.example/cb", "openid", "profile", "offline_access")
	codes := h.Mem.Codes.Len()

	p := b.Get(authorizeURL(issuer, evil, "prompt", "none", "scope", "openid profile offline_access"))
	wantRedirect(t, p, "evil.example", "consent_required")
	if p := b.Get(authorizeURL(issuer, evil, "scope", "openid offline_access")); !servertest.IsConsentPage(p) {
		t.Fatalf("without prompt=none: want the consent page, got %d %v", p.Status, p.Location)
	}
	other := newFixture(t)
	elsewhere := publicClient(other, "evil", "https://elsewhere.example/cb", "openid")
	wantRedirect(t, b.Get(authorizeURL(issuer, elsewhere, "prompt", "none")), "elsewhere.example", "login_required")
	if n := h.Mem.Codes.Len(); n != codes {
		t.Fatalf("%d codes issued to the attacker's clients", n-codes)
	}
}

// TestConsentRemembered: an Allow is stored (user, client, scopes,
// audiences, time) and covers the same or fewer scopes, also for
// prompt=none; more scopes ask again, and once allowed both sets pass;
// deleting the record (revocation) asks again.
func TestConsentRemembered(t *testing.T) {
	f := newFixture(t)
	aud := "https://orders." + f.NS + ".example"
	f.Resource("orders", v1alpha1.OAuthResourceSpec{Audience: aud, Scopes: []string{"orders.read", "orders.write"}})
	id, _ := f.Client("shop", v1alpha1.OAuthClientSpec{Public: true, DisplayName: "Shop",
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, Audiences: []string{aud},
		Scopes: []string{"openid", "profile", "orders.read", "orders.write"}, RedirectURIs: []string{"https://shop.example/cb"}})
	alice, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	first := b.Login(issuer, authorizeURL(issuer, id, "scope", "openid orders.read"), "alice", pw)
	if !strings.Contains(first.Body, aud) || !strings.Contains(first.Body, "orders.read") || strings.Contains(first.Body, "orders.write") {
		t.Fatalf("consent page lacks the audience or scope, or shows one not asked:\n%s", first.Body)
	}
	wantRedirect(t, b.Decide(issuer, first, "allow"), "shop.example", "")

	c, err := h.Mem.Directory.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.Mem.Consents.Get(context.Background(), f.NS, store.ConsentID(c.Object.UID, alice.UID))
	if err != nil || !slices.Equal(rec.Scopes, []string{"openid", "orders.read"}) || !slices.Equal(rec.Audience, []string{aud}) ||
		rec.UserUID != alice.UID || rec.ClientID != id || rec.GrantedAt.IsZero() {
		t.Fatalf("stored consent %+v, %v", rec, err)
	}
	for _, scope := range []string{"openid orders.read", "orders.read"} {
		wantRedirect(t, b.Get(authorizeURL(issuer, id, "scope", scope, "prompt", "none")), "shop.example", "")
	}
	more := b.Get(authorizeURL(issuer, id, "scope", "openid orders.read orders.write"))
	if !servertest.IsConsentPage(more) || !strings.Contains(more.Body, "orders.write") {
		t.Fatalf("more scopes: want the consent page, got %d %v", more.Status, more.Location)
	}
	wantRedirect(t, b.Decide(issuer, more, "allow"), "shop.example", "")
	for _, scope := range []string{"openid orders.read orders.write", "orders.read", "orders.write"} {
		wantRedirect(t, b.Get(authorizeURL(issuer, id, "scope", scope, "prompt", "none")), "shop.example", "")
	}

	if err := h.Mem.Consents.Delete(context.Background(), f.NS, store.ConsentID(c.Object.UID, alice.UID)); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, b.Get(authorizeURL(issuer, id, "scope", "orders.read", "prompt", "none")), "shop.example", "consent_required")
}

// TestConsentPromptConsent: prompt=consent shows the page although consent
// was given, for a signed-in user and across a fresh sign-in (the login form
// carries it), and for a first-party client too.
func TestConsentPromptConsent(t *testing.T) {
	f := newFixture(t)
	b, cfg := signedIn(t, f, "alice")
	u := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	wantRedirect(t, b.Get(u), "127.0.0.1:8080", "")
	p := b.Get(u + "&prompt=consent")
	if !servertest.IsConsentPage(p) {
		t.Fatalf("prompt=consent with consent given: %d %v", p.Status, p.Location)
	}
	wantRedirect(t, b.Decide(issuer, p, "allow"), "127.0.0.1:8080", "")

	// prompt=login consent: the login form, then the consent page.
	_, pw := f.User("bob", v1alpha1.OAuthUserSpec{})
	fresh := newBrowser(t)
	fresh.SignIn(issuer, u, "bob", pw)
	if p := fresh.Login(issuer, u+"&prompt="+url.QueryEscape("login consent"), "bob", pw); !servertest.IsConsentPage(p) {
		t.Fatalf("prompt=login consent after sign-in: %d %v", p.Status, p.Location)
	}

	h.Mem.Directory.PutNamespaceAnnotations(f.NS, map[string]string{contract.AnnotationFirstPartyClients: "app"})
	if p := b.Get(u + "&prompt=consent"); !servertest.IsConsentPage(p) {
		t.Fatalf("prompt=consent for a first-party client: %d %v", p.Status, p.Location)
	}
}

// TestConsentDeny: Deny answers access_denied (RFC 6749 §4.1.2.1) with no
// code, and remembers nothing.
func TestConsentDeny(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	u := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	wantRedirect(t, b.Decide(issuer, b.Login(issuer, u, "alice", pw), "deny"), "127.0.0.1:8080", "access_denied")
	wantRedirect(t, b.Get(u+"&prompt=none"), "127.0.0.1:8080", "consent_required")
	if p := b.Get(u); !servertest.IsConsentPage(p) {
		t.Fatalf("after Deny: want the consent page again, got %d %v", p.Status, p.Location)
	}
}

// TestConsentFirstParty: a client the platform team lists in its
// namespace's annotation skips the page (prompt=none included); a client
// not listed, and a client of the same name in another namespace, still ask.
func TestConsentFirstParty(t *testing.T) {
	f := newFixture(t)
	h.Mem.Directory.PutNamespaceAnnotations(f.NS, map[string]string{contract.AnnotationFirstPartyClients: "other, portal"})
	portal := publicClient(f, "portal", "https://portal.example/cb", "openid")
	third := publicClient(f, "third", "https://third.example/cb", "openid")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	wantRedirect(t, b.Login(issuer, authorizeURL(issuer, portal), "alice", pw), "portal.example", "")
	wantRedirect(t, b.Get(authorizeURL(issuer, portal, "prompt", "none")), "portal.example", "")
	wantRedirect(t, b.Get(authorizeURL(issuer, third, "prompt", "none")), "third.example", "consent_required")

	g := newFixture(t)
	namesake := publicClient(g, "portal", "https://namesake.example/cb", "openid")
	_, gpw := g.User("alice", v1alpha1.OAuthUserSpec{})
	if p := newBrowser(t).Login(issuer, authorizeURL(issuer, namesake), "alice", gpw); !servertest.IsConsentPage(p) {
		t.Fatalf("a namesake in another namespace skipped consent: %d %v", p.Status, p.Location)
	}
}

// TestConsentFormForgery: a consent submission is refused (403, no
// redirect) unless it comes from the browser the page was shown to, for the
// user signed in there, with its token and hidden fields intact.
func TestConsentFormForgery(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	_, bobPW := f.User("bob", v1alpha1.OAuthUserSpec{})
	u := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	b := newBrowser(t)
	v := maps(servertest.ConsentFields(t, b.Login(issuer, u, "alice", pw)), "decision", "allow")
	bob := newBrowser(t)
	bob.Login(issuer, u, "bob", bobPW)
	loginForm := servertest.LoginFields(t, newBrowser(t).Get(u))

	tests := []struct {
		name string
		b    *browser
		v    url.Values
	}{
		{"no token", b, maps(v, "csrf_token", "")},
		{"wrong token", b, maps(v, "csrf_token", "9999999999.AAAA")},
		{"login form's token", b, maps(v, "csrf_token", loginForm.Get("csrf_token"))},
		{"changed hidden field", b, maps(v, "scope", "openid api")},
		{"added prompt", b, maps(v, "prompt", "consent")},
		{"another browser", newBrowser(t), v},
		{"another user's browser", bob, v},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := tt.b.PostForm(issuer+"/oauth/consent", tt.v); p.Status != http.StatusForbidden || p.Location != nil {
				t.Fatalf("%d %v\n%s", p.Status, p.Location, p.Body)
			}
		})
	}
	if p := b.Get(issuer + "/oauth/consent"); p.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", p.Status)
	}
	// The form itself still works, once.
	wantRedirect(t, b.PostForm(issuer+"/oauth/consent", v), "127.0.0.1:8080", "")
	if p := b.PostForm(issuer+"/oauth/consent", v); p.Status != http.StatusForbidden {
		t.Fatalf("second submission: %d %v", p.Status, p.Location)
	}
}

// TestConsentPage: the page names the client, its namespace, the user, the
// scopes and the audiences, and cannot be framed.
func TestConsentPage(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{DisplayName: "Alice"})
	p := newBrowser(t).Login(issuer, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", pw)
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:8080; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY", "Cache-Control": "no-store",
	} {
		if got := p.Header.Get(k); got != want {
			t.Errorf("consent page %s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{"Example App", ">" + f.NS + "<", "Alice (alice)", "offline_access", "profile", "this application itself <code>" + cfg.ClientID + "</code>"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("consent page lacks %q:\n%s", want, p.Body)
		}
	}
}

// TestConsentFormBoundToUser: a consent form shown to alice does not serve
// bob once he signs in on the same browser (the consent cookie unchanged).
func TestConsentFormBoundToUser(t *testing.T) {
	f := newFixture(t)
	h.Mem.Directory.PutNamespaceAnnotations(f.NS, map[string]string{contract.AnnotationFirstPartyClients: "portal"})
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	portal := publicClient(f, "portal", "https://portal.example/cb", "openid")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	_, bobPW := f.User("bob", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	v := maps(servertest.ConsentFields(t, b.Login(issuer, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", pw)), "decision", "allow")
	wantRedirect(t, b.Login(issuer, authorizeURL(issuer, portal, "prompt", "login"), "bob", bobPW), "portal.example", "")
	if p := b.PostForm(issuer+"/oauth/consent", v); p.Status != http.StatusForbidden || p.Location != nil {
		t.Fatalf("alice's form submitted for bob: %d %v", p.Status, p.Location)
	}
}

// TestConsentFormShowsWhatIsIssued: a form whose tokens would carry more
// than the page showed (an audience granted since) is refused; the user is
// asked again.
func TestConsentFormShowsWhatIsIssued(t *testing.T) {
	f := newFixture(t)
	aud, aud2 := "https://orders."+f.NS+".example", "https://billing."+f.NS+".example"
	f.Resource("orders", v1alpha1.OAuthResourceSpec{Audience: aud, Scopes: []string{"orders.read"}})
	f.Resource("billing", v1alpha1.OAuthResourceSpec{Audience: aud2, Scopes: []string{"billing.read"}})
	id, _ := f.Client("shop", v1alpha1.OAuthClientSpec{Public: true,
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, Audiences: []string{aud},
		Scopes: []string{"openid", "orders.read"}, RedirectURIs: []string{"https://shop.example/cb"}})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	page := b.Login(issuer, authorizeURL(issuer, id, "scope", "openid orders.read"), "alice", pw)
	if strings.Contains(page.Body, aud2) {
		t.Fatalf("consent page shows an audience not asked for:\n%s", page.Body)
	}
	if _, err := h.ChangeClient(f.NS, "shop", func(c *v1alpha1.OAuthClient) { c.Spec.Audiences = append(c.Spec.Audiences, aud2) }); err != nil {
		t.Fatal(err)
	}
	if p := b.Decide(issuer, page, "allow"); p.Status != http.StatusForbidden || p.Location != nil {
		t.Fatalf("allowed more than the page showed: %d %v", p.Status, p.Location)
	}
	again := b.Get(authorizeURL(issuer, id, "scope", "openid orders.read"))
	if !servertest.IsConsentPage(again) || !strings.Contains(again.Body, aud2) {
		t.Fatalf("want the consent page with the new audience, got %d %v", again.Status, again.Location)
	}
}

// TestConsentFormExpires: a consent form cannot be submitted after its ten
// minutes, though the session lasts.
func TestConsentFormExpires(t *testing.T) {
	f := newFixture(t)
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	cfg.Endpoint = oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token"}
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	p := b.Login(base, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", pw)
	clk.Step(10*time.Minute + time.Second)
	if p := b.Decide(base, p, "allow"); p.Status != http.StatusForbidden || p.Location != nil {
		t.Fatalf("expired consent form: %d %v", p.Status, p.Location)
	}
}

// A code is bound to what the consent page showed: redeeming it with
// resource= another audience the client could be granted is invalid_target,
// and the default token carries only the consented audience.
func TestConsentBindsCodeAudience(t *testing.T) {
	f := newFixture(t)
	shown := "https://orders." + f.NS + ".example"
	other := "https://ledger." + f.NS + ".example"
	f.Resource("orders", v1alpha1.OAuthResourceSpec{Audience: shown, Scopes: []string{"orders.read"}})
	f.Resource("ledger", v1alpha1.OAuthResourceSpec{Audience: other, Scopes: []string{"ledger.read"}})
	id, _ := f.Client("shop", v1alpha1.OAuthClientSpec{Public: true,
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, Audiences: []string{shown},
		Scopes: []string{"orders.read", "ledger.read"}, RedirectURIs: []string{"https://shop.example/cb"}})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	redeem := func(extra ...string) response {
		verifier := oauth2.GenerateVerifier()
		u := authorizeURL(issuer, id, "scope", "orders.read", "code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
		p := b.Get(u)
		if servertest.IsConsentPage(p) || p.Status == http.StatusOK {
			if !servertest.IsConsentPage(p) {
				p = b.Login(issuer, u, "alice", pw)
			}
			p = b.Decide(issuer, p, "allow")
		}
		code := wantRedirect(t, p, "shop.example", "").Get("code")
		v := url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"https://shop.example/cb"}}
		return postTokenForm(t, maps(v, extra...))
	}
	if r := redeem("resource", other); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_target" {
		t.Fatalf("a code redeemed for an audience the user was not shown: %d %v", r.Status, r.Body)
	}
	r := redeem()
	if r.Status != http.StatusOK {
		t.Fatalf("redeem: %d %v", r.Status, r.Body)
	}
	if aud := testhttp.JWTClaims(t, r.Body["access_token"].(string))["aud"]; aud != shown {
		t.Fatalf("aud %v, want only %s", aud, shown)
	}
}

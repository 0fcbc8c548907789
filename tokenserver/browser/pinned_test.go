package browser_test

// Attacker's tests for checks of the browser flow that make mutate pins
// (hack/mutate/mutations.txt): each asserts what a user or client sees (a
// status, the login page, an OAuth error code). The helpers here are their
// own, so these tests do not move with the suite's shared helpers.

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// pinRedirect is the registered redirect URI of the clients here; nothing
// listens there, the browser follows no redirect.
const pinRedirect = "http://127.0.0.1:9/callback"

// pinAnswer is one answer to the browser.
type pinAnswer struct {
	status   int
	location *url.URL
	body     string
}

func (a pinAnswer) isLogin() bool {
	return a.status == http.StatusOK && strings.Contains(a.body, `name="password"`)
}

func (a pinAnswer) isConsent() bool {
	return a.status == http.StatusOK && strings.Contains(a.body, `name="decision"`)
}

// redirected returns the query of a redirect to pinRedirect; t fails on any
// other answer.
func (a pinAnswer) redirected(t testing.TB) url.Values {
	t.Helper()
	if a.location == nil || !strings.HasPrefix(a.location.String(), pinRedirect) {
		t.Fatalf("want a redirect to the client, got %d %v\n%s", a.status, a.location, a.body)
	}
	return a.location.Query()
}

var pinHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// fields are the hidden inputs of a page.
func (a pinAnswer) fields() url.Values {
	v := url.Values{}
	for _, m := range pinHidden.FindAllStringSubmatch(a.body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// pinBrowser keeps cookies and follows no redirect.
type pinBrowser struct {
	t  testing.TB
	hc *http.Client
}

func newPinBrowser(t testing.TB) *pinBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &pinBrowser{t: t, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *pinBrowser) do(req *http.Request) pinAnswer {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := pinAnswer{status: resp.StatusCode, body: string(raw)}
	a.location, _ = resp.Location()
	return a
}

func (b *pinBrowser) get(u string) pinAnswer {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form as the page itself does (same-origin).
func (b *pinBrowser) post(u string, v url.Values) pinAnswer {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// login submits the login page p.
func (b *pinBrowser) login(base string, p pinAnswer, username, pw string) pinAnswer {
	b.t.Helper()
	if !p.isLogin() {
		b.t.Fatalf("want the login page, got %d %v\n%s", p.status, p.location, p.body)
	}
	v := p.fields()
	v.Set("username", username)
	v.Set("password", pw)
	return b.post(base+"/oauth/login", v)
}

// allow answers a consent page with Allow; any other answer is returned
// as it is.
func (b *pinBrowser) allow(base string, p pinAnswer) pinAnswer {
	b.t.Helper()
	if !p.isConsent() {
		return p
	}
	v := p.fields()
	v.Set("decision", "allow")
	return b.post(base+"/oauth/consent", v)
}

// cookie returns the browser's cookie name for base.
func (b *pinBrowser) cookie(base, name string) *http.Cookie {
	u, _ := url.Parse(base)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	b.t.Fatalf("no cookie %s", name)
	return nil
}

func (b *pinBrowser) setCookie(base, name, value string) {
	u, _ := url.Parse(base)
	b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// pinClient registers a confidential code client of f and returns its
// client_id and secret.
func pinClient(f *fixture, spec v1alpha1.OAuthClientSpec) (id, secret string) {
	spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
	spec.Scopes = []string{"openid", "profile"}
	spec.RedirectURIs = []string{pinRedirect}
	return f.Client("app", spec)
}

// pinAuthorize is an authorization request of id to base, PKCE S256 unless
// kv names a code_challenge.
func pinAuthorize(base, id string, kv ...string) string {
	v := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {pinRedirect}, "scope": {"openid"}, "state": {"st"}}
	if !strings.Contains(strings.Join(kv, " "), "code_challenge") {
		v.Set("code_challenge", oauth2.S256ChallengeFromVerifier(pinVerifier))
		v.Set("code_challenge_method", "S256")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return base + "/oauth/authorize?" + v.Encode()
}

const pinVerifier = "pinned-checks-verifier-0123456789-abcdefghijklmnop"

// pinSignedIn signs alice in at base through the login page and returns the
// browser, the client and alice.
func pinSignedIn(t *testing.T, f *fixture, base string) (*pinBrowser, string, string, *v1alpha1.OAuthUser) {
	t.Helper()
	id, secret := pinClient(f, v1alpha1.OAuthClientSpec{})
	u, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newPinBrowser(t)
	p := b.allow(base, b.login(base, b.get(pinAuthorize(base, id)), "alice", pw))
	if q := p.redirected(t); q.Get("code") == "" {
		t.Fatalf("sign-in answered %v", q)
	}
	return b, id, secret, u
}

// TestPinnedPlainPKCERefused: code_challenge_method=plain from a client
// that does not allow it is invalid_request at the client's redirect URI.
func TestPinnedPlainPKCERefused(t *testing.T) {
	f := newFixture(t)
	id, _ := pinClient(f, v1alpha1.OAuthClientSpec{})
	p := newPinBrowser(t).get(pinAuthorize(issuer, id, "code_challenge", pinVerifier, "code_challenge_method", "plain"))
	if q := p.redirected(t); q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Fatalf("plain PKCE answered %v, want invalid_request", q)
	}
}

// TestPinnedLoginFormExpires: a login form posted after its lifetime is
// refused with 403, even while the browser's form nonce is still valid (a
// second tab renewed it).
func TestPinnedLoginFormExpires(t *testing.T) {
	f := newFixture(t)
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	id, _ := pinClient(f, v1alpha1.OAuthClientSpec{})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newPinBrowser(t)
	tab1 := b.get(pinAuthorize(base, id, "state", "one"))
	clk.Step(10 * time.Minute)
	b.get(pinAuthorize(base, id, "state", "two")) // renews the nonce cookie
	clk.Step(5*time.Minute + time.Second)
	if p := b.login(base, tab1, "alice", pw); p.status != http.StatusForbidden || p.location != nil {
		t.Fatalf("expired login form: %d %v, want 403", p.status, p.location)
	}
}

// TestPinnedConsentFormExpires: the same for the consent form.
func TestPinnedConsentFormExpires(t *testing.T) {
	f := newFixture(t)
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	id, _ := pinClient(f, v1alpha1.OAuthClientSpec{})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newPinBrowser(t)
	tab1 := b.login(base, b.get(pinAuthorize(base, id, "state", "one")), "alice", pw)
	if !tab1.isConsent() {
		t.Fatalf("want the consent page, got %d %v", tab1.status, tab1.location)
	}
	clk.Step(5 * time.Minute)
	if p := b.get(pinAuthorize(base, id, "state", "two")); !p.isConsent() { // renews the nonce
		t.Fatalf("second tab: want the consent page, got %d %v", p.status, p.location)
	}
	clk.Step(5*time.Minute + time.Second)
	if p := b.allow(base, tab1); p.status != http.StatusForbidden || p.location != nil {
		t.Fatalf("expired consent form: %d %v, want 403", p.status, p.location)
	}
}

// TestPinnedSessionForgedUser: a session cookie whose payload is changed to
// name another user of the namespace, signature kept, is no session.
func TestPinnedSessionForgedUser(t *testing.T) {
	f := newFixture(t)
	b, id, _, _ := pinSignedIn(t, f, issuer)
	bob, _ := f.User("bob", v1alpha1.OAuthUserSpec{})
	c := b.cookie(issuer, "tw_session")
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		t.Fatalf("session cookie %q", c.Value)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var sess map[string]any
	if err := json.Unmarshal(raw, &sess); err != nil {
		t.Fatal(err)
	}
	sess["uid"] = string(bob.UID)
	forged, _ := json.Marshal(sess)
	b.setCookie(issuer, "tw_session", base64.RawURLEncoding.EncodeToString(forged)+"."+sig)
	if p := b.get(pinAuthorize(issuer, id)); !p.isLogin() {
		t.Fatalf("forged session: %d %v, want the login page", p.status, p.location)
	}
}

// TestPinnedSessionExpires: a session older than its lifetime signs no one
// in.
func TestPinnedSessionExpires(t *testing.T) {
	f := newFixture(t)
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	b, id, _, _ := pinSignedIn(t, f, base)
	clk.Step(time.Hour + time.Second)
	if p := b.get(pinAuthorize(base, id)); !p.isLogin() {
		t.Fatalf("expired session: %d %v, want the login page", p.status, p.location)
	}
	if q := b.get(pinAuthorize(base, id, "prompt", "none")).redirected(t); q.Get("error") != "login_required" {
		t.Fatalf("expired session, prompt=none: %v, want login_required", q)
	}
}

// TestPinnedSessionDisabledUser: a user disabled since sign-in is signed in
// no more.
func TestPinnedSessionDisabledUser(t *testing.T) {
	f := newFixture(t)
	b, id, _, u := pinSignedIn(t, f, issuer)
	if _, err := h.SetUserDisabled(u, true); err != nil {
		t.Fatal(err)
	}
	if p := b.get(pinAuthorize(issuer, id)); !p.isLogin() {
		t.Fatalf("session of a disabled user: %d %v, want the login page", p.status, p.location)
	}
	if q := b.get(pinAuthorize(issuer, id, "prompt", "none")).redirected(t); q.Get("error") != "login_required" {
		t.Fatalf("session of a disabled user, prompt=none: %v, want login_required", q)
	}
}

// TestPinnedCodeOfDisabledUser: a code issued before its user was disabled
// redeems nothing.
func TestPinnedCodeOfDisabledUser(t *testing.T) {
	f := newFixture(t)
	id, secret := pinClient(f, v1alpha1.OAuthClientSpec{})
	u, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newPinBrowser(t)
	code := b.allow(issuer, b.login(issuer, b.get(pinAuthorize(issuer, id)), "alice", pw)).redirected(t).Get("code")
	if _, err := h.SetUserDisabled(u, true); err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(issuer+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {pinRedirect},
		"code_verifier": {pinVerifier}, "client_id": {id}, "client_secret": {secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("code of a disabled user: %d %v, want 400 invalid_grant", resp.StatusCode, body)
	}
}

// TestPinnedPlantedNonceNotBound: a login cookie of the right shape that
// the server did not MAC (planted by a sibling host over http) is never
// taken as the browser's nonce: the form the attacker gets for it is bound
// to a nonce of the server's, so the victim's browser carrying the planted
// cookie cannot submit it (login CSRF, also from a browser that sends no
// Sec-Fetch-Site).
func TestPinnedPlantedNonceNotBound(t *testing.T) {
	f := newFixture(t)
	id, _ := pinClient(f, v1alpha1.OAuthClientSpec{})
	_, pw := f.User("mallory", v1alpha1.OAuthUserSpec{})
	planted := strings.Repeat("N", 43) + "." + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString([]byte("not the server's mac"))
	attacker, victim := newPinBrowser(t), newPinBrowser(t)
	attacker.setCookie(issuer, "tw_login", planted)
	page := attacker.get(pinAuthorize(issuer, id))
	if !page.isLogin() {
		t.Fatalf("want the login page, got %d %v", page.status, page.location)
	}
	v := page.fields()
	v.Set("username", "mallory")
	v.Set("password", pw)
	victim.setCookie(issuer, "tw_login", planted)
	req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/login", strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := victim.do(req); p.status != http.StatusForbidden || p.location != nil {
		t.Fatalf("login forged with a planted nonce: %d %v, want 403", p.status, p.location)
	}
}

// TestPinnedConsentFormCrossSite: a consent form of this browser posted
// from another site or a sibling host (the browser says so in
// Sec-Fetch-Site) is refused, token and nonce notwithstanding.
func TestPinnedConsentFormCrossSite(t *testing.T) {
	f := newFixture(t)
	id, _ := pinClient(f, v1alpha1.OAuthClientSpec{})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newPinBrowser(t)
	p := b.login(issuer, b.get(pinAuthorize(issuer, id)), "alice", pw)
	if !p.isConsent() {
		t.Fatalf("want the consent page, got %d %v", p.status, p.location)
	}
	v := p.fields()
	v.Set("decision", "allow")
	for _, site := range []string{"cross-site", "same-site"} {
		req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/consent", strings.NewReader(v.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		if p := b.do(req); p.status != http.StatusForbidden || p.location != nil {
			t.Fatalf("consent form posted %s: %d %v, want 403", site, p.status, p.location)
		}
	}
}

// TestPinnedCodeAudienceIsConsented: a code redeemed without resource=
// issues tokens for the audiences consent showed, not for those the client
// was given since (the client's audiences of today).
func TestPinnedCodeAudienceIsConsented(t *testing.T) {
	f := newFixture(t)
	shown, added := "https://shown."+f.NS+".example", "https://added."+f.NS+".example"
	f.Resource("shown", v1alpha1.OAuthResourceSpec{Audience: shown, Scopes: []string{"shown.read"}})
	f.Resource("added", v1alpha1.OAuthResourceSpec{Audience: added, Scopes: []string{"added.read"}})
	id, secret := pinClient(f, v1alpha1.OAuthClientSpec{Audiences: []string{shown}})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newPinBrowser(t)
	code := b.allow(issuer, b.login(issuer, b.get(pinAuthorize(issuer, id)), "alice", pw)).redirected(t).Get("code")
	if _, err := h.ChangeClient(f.NS, "app", func(c *v1alpha1.OAuthClient) { c.Spec.Audiences = []string{shown, added} }); err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(issuer+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {pinRedirect},
		"code_verifier": {pinVerifier}, "client_id": {id}, "client_secret": {secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("redeem: %d %v", resp.StatusCode, err)
	}
	if aud := pinAudiences(t, body.AccessToken); len(aud) != 1 || aud[0] != shown {
		t.Fatalf("access token aud %v, want only the consented %s", aud, shown)
	}
}

// pinAudiences reads the aud claim of a JWT (a string or a list) without
// verifying it: the test checks what the server issued.
func pinAudiences(t testing.TB, tok string) []string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(claims.Aud, &many); err != nil {
		t.Fatalf("aud %s", claims.Aud)
	}
	return many
}

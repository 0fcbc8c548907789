package browser_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// plant sets a login-form cookie in b as a same-site host can for an http
// issuer (no __Host- prefix pins it to the issuer's origin).
func (b *browser) plant(name, value string) {
	b.t.Helper()
	u, err := url.Parse(issuer)
	if err != nil {
		b.t.Fatal(err)
	}
	b.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// cookie is the value of b's cookie name for the issuer.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(issuer)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// postFormFrom submits a form with the Sec-Fetch-Site a browser sends.
func (b *browser) postFormFrom(u, site string, v url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	req.Header.Set("Sec-Fetch-Site", site)
	return b.do(req)
}

// TestLoginCSRFPlantedNonce is the login CSRF of issue 12: an attacker
// plants a login cookie of the right shape in the victim's browser, gets a
// form token for that value from the server with their own browser, and
// makes the victim's browser submit it with the attacker's credentials, so
// the victim works signed in as the attacker. The server only takes a nonce
// it minted itself, so the attacker's form is bound to another nonce and the
// submission is refused.
func TestLoginCSRFPlantedNonce(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("mallory", v1alpha1.OAuthUserSpec{})
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	planted := strings.Repeat("A", 43)

	attacker := newBrowser(t)
	attacker.plant("tw_login", planted)
	v := maps(formFields(t, attacker.get(authURL)), "username", "mallory", "password", pw)
	if got := attacker.cookie("tw_login"); got == planted || !strings.Contains(got, ".") {
		t.Errorf("the login page kept the planted nonce: %q", got)
	}

	victim := newBrowser(t)
	victim.plant("tw_login", planted)
	if p := victim.postForm(issuer+"/oauth/login", v); p.status != http.StatusForbidden || p.location != nil {
		t.Fatalf("forged login with a planted nonce: %d %v\n%s", p.status, p.location, p.body)
	}
	// A nonce cookie the server minted for the attacker's browser and
	// planted in the victim's: the browser says the form came from a
	// sibling host or another site.
	victim.plant("tw_login", attacker.cookie("tw_login"))
	for _, site := range []string{"same-site", "cross-site"} {
		if p := victim.postFormFrom(issuer+"/oauth/login", site, v); p.status != http.StatusForbidden || p.location != nil {
			t.Fatalf("forged login from %s with a planted minted nonce: %d %v", site, p.status, p.location)
		}
	}
	// The attacker's own form, from their own page, works.
	if p := attacker.postFormFrom(issuer+"/oauth/login", "same-origin", v); !isConsentPage(p) {
		t.Fatalf("the attacker's own login: %d %v\n%s", p.status, p.location, p.body)
	}
}

// TestLoginFormTwoTabs: two login pages open in one browser share its nonce,
// so either can be submitted, also after the other was sent with a wrong
// password.
func TestLoginFormTwoTabs(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	tab1 := formFields(t, b.get(cfg.AuthCodeURL("one", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	tab2 := formFields(t, b.get(cfg.AuthCodeURL("two", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	if p := b.postForm(issuer+"/oauth/login", maps(tab1, "username", "alice", "password", "wrong")); p.status != http.StatusOK || !strings.Contains(p.body, "incorrect") {
		t.Fatalf("tab 1, wrong password: %d %v\n%s", p.status, p.location, p.body)
	}
	p := b.postFormFrom(issuer+"/oauth/login", "same-origin", maps(tab2, "username", "alice", "password", pw))
	if !isConsentPage(p) {
		t.Fatalf("tab 2: %d %v\n%s", p.status, p.location, p.body)
	}
	if q := b.decide(issuer, p, "allow").location.Query(); q.Get("state") != "two" || q.Get("code") == "" {
		t.Fatalf("tab 2 answered %v", q)
	}
}

// TestConsentFormTwoTabs: the consent form uses the same nonce mechanism;
// the first of two consent pages open in one browser stays valid (a fresh
// nonce per page made it stale). Once one form is sent the nonce ends, so a
// form is never sent twice.
func TestConsentFormTwoTabs(t *testing.T) {
	f := newFixture(t)
	b, cfg := signedIn(t, f, "alice")
	c1 := b.get(cfg.AuthCodeURL("one", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
	b.get(cfg.AuthCodeURL("two", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
	if p := b.decide(issuer, c1, "allow"); p.location == nil || p.location.Query().Get("state") != "one" || p.location.Query().Get("code") == "" {
		t.Fatalf("tab 1 answered %d %v", p.status, p.location)
	}
}

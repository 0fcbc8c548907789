package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

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
	attacker.SetCookie(issuer, "tw_login", planted)
	v := maps(servertest.LoginFields(t, attacker.Get(authURL)), "username", "mallory", "password", pw)
	if got := attacker.Cookie(issuer, "tw_login"); got == planted || !strings.Contains(got, ".") {
		t.Errorf("the login page kept the planted nonce: %q", got)
	}

	victim := newBrowser(t)
	victim.SetCookie(issuer, "tw_login", planted)
	if p := victim.PostForm(issuer+"/oauth/login", v); p.Status != http.StatusForbidden || p.Location != nil {
		t.Fatalf("forged login with a planted nonce: %d %v\n%s", p.Status, p.Location, p.Body)
	}
	// A nonce cookie the server minted for the attacker's browser and
	// planted in the victim's: the browser says the form came from a
	// sibling host or another site.
	victim.SetCookie(issuer, "tw_login", attacker.Cookie(issuer, "tw_login"))
	for _, site := range []string{"same-site", "cross-site"} {
		if p := victim.PostForm(issuer+"/oauth/login", v, "Sec-Fetch-Site", site); p.Status != http.StatusForbidden || p.Location != nil {
			t.Fatalf("forged login from %s with a planted minted nonce: %d %v", site, p.Status, p.Location)
		}
	}
	// The attacker's own form, from their own page, works.
	if p := attacker.PostForm(issuer+"/oauth/login", v, "Sec-Fetch-Site", "same-origin"); !servertest.IsConsentPage(p) {
		t.Fatalf("the attacker's own login: %d %v\n%s", p.Status, p.Location, p.Body)
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
	tab1 := servertest.LoginFields(t, b.Get(cfg.AuthCodeURL("one", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	tab2 := servertest.LoginFields(t, b.Get(cfg.AuthCodeURL("two", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	if p := b.PostForm(issuer+"/oauth/login", maps(tab1, "username", "alice", "password", "wrong")); p.Status != http.StatusOK || !strings.Contains(p.Body, "incorrect") {
		t.Fatalf("tab 1, wrong password: %d %v\n%s", p.Status, p.Location, p.Body)
	}
	p := b.PostForm(issuer+"/oauth/login", maps(tab2, "username", "alice", "password", pw), "Sec-Fetch-Site", "same-origin")
	if !servertest.IsConsentPage(p) {
		t.Fatalf("tab 2: %d %v\n%s", p.Status, p.Location, p.Body)
	}
	if q := b.Decide(issuer, p, "allow").Location.Query(); q.Get("state") != "two" || q.Get("code") == "" {
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
	c1 := b.Get(cfg.AuthCodeURL("one", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
	b.Get(cfg.AuthCodeURL("two", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
	if p := b.Decide(issuer, c1, "allow"); p.Location == nil || p.Location.Query().Get("state") != "one" || p.Location.Query().Get("code") == "" {
		t.Fatalf("tab 1 answered %d %v", p.Status, p.Location)
	}
}

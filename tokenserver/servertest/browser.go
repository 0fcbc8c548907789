package servertest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// Browser walks the token server's login and consent pages with a
// testhttp.Browser (cookies kept, no redirect followed). The suites over
// memory (tokenserver/browser) and over the cluster (test/integration,
// test/tenancy) share it.
type Browser struct {
	*testhttp.Browser
}

// NewBrowser returns a browser with no session.
func NewBrowser(t testing.TB) *Browser {
	return &Browser{Browser: testhttp.NewBrowser(t)}
}

// SignIn opens authURL, submits the login form of the server at base,
// allows the client on the consent page when it is shown, and returns the
// redirect to the client.
func (b *Browser) SignIn(base, authURL, username, password string) *url.URL {
	b.T.Helper()
	p := b.Login(base, authURL, username, password)
	if IsConsentPage(p) {
		p = b.Decide(base, p, "allow")
	}
	return WantRedirect(b.T, p)
}

// Login opens authURL, submits the login form of the server at base and
// returns the answer: the consent page, or the redirect to the client.
func (b *Browser) Login(base, authURL, username, password string) testhttp.Page {
	b.T.Helper()
	v := LoginFields(b.T, b.Get(authURL))
	v.Set("username", username)
	v.Set("password", password)
	return b.PostForm(base+"/oauth/login", v)
}

// Decide submits the consent page p to the server at base with decision
// ("allow" or "deny") and returns the answer.
func (b *Browser) Decide(base string, p testhttp.Page, decision string) testhttp.Page {
	b.T.Helper()
	v := ConsentFields(b.T, p)
	v.Set("decision", decision)
	return b.PostForm(base+"/oauth/consent", v)
}

// WantRedirect fails t unless p is the 303 back to the client, and returns
// where it leads.
func WantRedirect(t testing.TB, p testhttp.Page) *url.URL {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Location == nil {
		t.Fatalf("login: want 303 to the client, got %d\n%s", p.Status, p.Body)
	}
	return p.Location
}

// LoginFields are the hidden fields of a login page; t fails when p is not
// one.
func LoginFields(t testing.TB, p testhttp.Page) url.Values {
	t.Helper()
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("want the login page, got %d %v\n%s", p.Status, p.Location, p.Body)
	}
	return testhttp.HiddenFields(p.Body)
}

// IsConsentPage tells the consent page from other answers.
func IsConsentPage(p testhttp.Page) bool {
	return p.Status == http.StatusOK && strings.Contains(p.Body, `name="decision"`)
}

// ConsentFields are the hidden fields of a consent page; t fails when p is
// not one.
func ConsentFields(t testing.TB, p testhttp.Page) url.Values {
	t.Helper()
	if !IsConsentPage(p) {
		t.Fatalf("want the consent page, got %d %v\n%s", p.Status, p.Location, p.Body)
	}
	return testhttp.HiddenFields(p.Body)
}

package tenancy_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// browser keeps cookies and follows no redirect, so a test sees every
// answer of the authorization endpoint.
type browser struct {
	t    *testing.T
	http *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer to the browser.
type page struct {
	status   int
	body     string
	location *url.URL
}

func (b *browser) do(method, u string, v url.Values) page {
	b.t.Helper()
	var body io.Reader
	if v != nil {
		body = strings.NewReader(v.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(raw)}
	if loc := resp.Header.Get("Location"); loc != "" {
		if p.location, err = url.Parse(loc); err != nil {
			b.t.Fatal(err)
		}
	}
	return p
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signIn opens authURL, submits the login form and returns the redirect to
// the client.
func (b *browser) signIn(authURL, username, password string) *url.URL {
	b.t.Helper()
	p := b.do(http.MethodGet, authURL, nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		b.t.Fatalf("want the login page, got %d %v\n%s", p.status, p.location, p.body)
	}
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	v.Set("username", username)
	v.Set("password", password)
	p = b.do(http.MethodPost, issuer+"/oauth/login", v)
	if p.status != http.StatusSeeOther || p.location == nil {
		b.t.Fatalf("login: want 303 to the client, got %d\n%s", p.status, p.body)
	}
	return p.location
}

// authURL is an authorization request of a public client with PKCE.
func authURL(id, redirect, scope string, extra ...string) string {
	v := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return issuer + "/oauth/authorize?" + v.Encode()
}

// Attack 4: a public client the attacker registered, with a redirect URI it
// controls and the scopes it wants, sends a signed-in user a link with
// prompt=none. Without the user's consent that is consent_required and no
// code; without prompt the user sees the consent page, not a redirect with a
// code; prompt=consent always shows it.
func TestAttackPromptNoneWithoutConsent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// The platform vouches for the namespace's sign-in portal, which skips
	// consent; the attacker cannot edit Namespaces.
	patch := []byte(`{"metadata":{"annotations":{"tokenwarden.dev/first-party-clients":"portal"}}}`)
	if err := env.Client.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.evil}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("carol's password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	newUser(t, env.Client, w.evil, "carol", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: string(h)}})
	portalRedirect := "http://127.0.0.1:9/portal"
	portal, _ := newClient(t, env.Client, w.evil, "portal", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, Scopes: []string{"openid"}, RedirectURIs: []string{portalRedirect},
	})
	steal := "http://127.0.0.1:9/steal"
	evilID, _ := newClient(t, w.attacker, w.evil, "helpful-app", v1alpha1.OAuthClientSpec{
		Public: true, DisplayName: "Helpful App", RedirectURIs: []string{steal},
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"openid", "profile", "email", "offline_access"},
	})

	b := newBrowser(t)
	if back := b.signIn(authURL(portal, portalRedirect, "openid"), "carol", "carol's password"); back.Query().Get("code") == "" {
		t.Fatalf("the first-party portal's sign-in: %v, want a code", back)
	}

	p := b.do(http.MethodGet, authURL(evilID, steal, "openid profile email offline_access", "prompt", "none"), nil)
	if p.location == nil || !strings.HasPrefix(p.location.String(), steal) {
		t.Fatalf("prompt=none: %d %v, want a redirect to the client with an error", p.status, p.location)
	}
	q := p.location.Query()
	if q.Get("error") != "consent_required" || q.Has("code") || q.Get("state") != "st" {
		t.Fatalf("prompt=none without consent: %v, want error=consent_required, the state and no code", q)
	}
	for _, extra := range [][]string{nil, {"prompt", "consent"}} {
		p := b.do(http.MethodGet, authURL(evilID, steal, "openid offline_access", extra...), nil)
		if p.status != http.StatusOK || p.location != nil || !strings.Contains(p.body, "Helpful App") {
			t.Fatalf("authorize %v: %d %v, want the consent page naming the client\n%s", extra, p.status, p.location, p.body)
		}
	}
}

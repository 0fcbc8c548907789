package browser_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// TestRegisteredRedirectURIIsParsedAgain is an attacker's test (issue 12):
// a client whose redirect URI passed the CRD's former prefix rule (or was
// stored before any rule) names a remote host over http; the authorization
// endpoint answers with its own error page and sends the browser nowhere,
// whether the request names the URI or relies on the only one registered.
func TestRegisteredRedirectURIIsParsedAgain(t *testing.T) {
	f := newFixture(t)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	for i, uri := range []string{
		"http://localhost.attacker.example/cb",
		"http://127.0.0.1.attacker.example/cb",
		"http://localhost@attacker.example/cb",
		"https://app.example.com/cb#fragment",
	} {
		id, _ := f.Client("legacy-"+string(rune('a'+i)), v1alpha1.OAuthClientSpec{Public: true, Scopes: []string{"openid"},
			GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, RedirectURIs: []string{uri}})
		q := url.Values{"client_id": {id}, "response_type": {"code"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		for _, named := range []bool{true, false} {
			if named {
				q.Set("redirect_uri", uri)
			} else {
				q.Del("redirect_uri")
			}
			t.Run(uri+map[bool]string{true: " named", false: " implied"}[named], func(t *testing.T) {
				p := newBrowser(t).Get(issuer + "/oauth/authorize?" + q.Encode())
				if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "Sign-in is not possible") {
					t.Fatalf("want the error page and no redirect, got %d %q\n%s", p.Status, p.Header.Get("Location"), p.Body)
				}
			})
		}
	}
}

package integration_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so a test sees every answer of the authorization endpoint.
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
		req.Header.Set("Content-Type", formType)
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

// signIn opens the authorize URL, submits the login form, allows the client
// on the consent page when it is shown, and returns the redirect to the
// client.
func (b *browser) signIn(base, authURL, username, password string) *url.URL {
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
	p = b.do(http.MethodPost, base+"/oauth/login", v)
	if p.status == http.StatusOK && strings.Contains(p.body, `name="decision"`) {
		// The consent page of a first authorization: Allow.
		c := url.Values{"decision": {"allow"}}
		for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
			c.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		p = b.do(http.MethodPost, base+"/oauth/consent", c)
	}
	if p.status != http.StatusSeeOther || p.location == nil {
		b.t.Fatalf("login: want 303 to the client, got %d\n%s", p.status, p.body)
	}
	return p.location
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// Two replicas writing through the API server race to redeem one code:
// exactly one exchange succeeds (the code record's compare-and-swap on its
// Secret), the other is invalid_grant. The same race over the in-memory
// stores is tokenserver's test of the same name.
func TestAuthorizationCodeSingleUseAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	second := startServer(t, tokenserver.Options{})
	redirect := "http://127.0.0.1:8080/callback"
	id, secret := f.client("app", v1alpha1.OAuthClientSpec{
		GrantTypes:   []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "offline_access"},
		RedirectURIs: []string{redirect},
	})
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth/authorize", TokenURL: issuer + "/oauth/token"}}
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	for round := range 5 {
		verifier := oauth2.GenerateVerifier()
		code := newBrowser(t).signIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", pw).Query().Get("code")
		replicas := []oauth2.Config{cfg, cfg}
		replicas[1].Endpoint.TokenURL = second + "/oauth/token"
		results := make(chan error, 2)
		for _, c := range replicas {
			go func() {
				_, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				results <- err
			}()
		}
		succeeded := 0
		for range 2 {
			if err := <-results; err == nil {
				succeeded++
			} else if oauthErrorCode(err) != "invalid_grant" {
				t.Errorf("round %d, loser: %v", round, err)
			}
		}
		if succeeded != 1 {
			t.Fatalf("round %d: %d exchanges of one code succeeded, want exactly 1", round, succeeded)
		}
	}
}

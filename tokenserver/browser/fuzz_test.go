package browser_test

// Fuzz targets of the browser endpoints (issue 12), over the memory stores
// and the handler itself. Each asserts: no panic, never a 5xx, and either an
// HTML page (the login, consent or error page) or a redirect to a redirect
// URI the client registered (or to the server's own /oauth/ pages), never
// anywhere else. hack/fuzz.sh runs each for a bounded time in make test.

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// fuzzRedirect is the only redirect URI of the fuzzed clients.
const fuzzRedirect = "https://app.example/cb"

// fuzzBrowserEnv is a handler with a public code client, a user, and a
// login form (its CSRF cookie and fields) for the seeds.
type fuzzBrowserEnv struct {
	handler     http.Handler
	id, pw      string
	query       string
	cookie      string
	loginFields url.Values
}

func newFuzzBrowserEnv(f *testing.F) *fuzzBrowserEnv {
	f.Helper()
	srv, err := tokenserver.New(servertest.Options(func(o *tokenserver.Options) { o.Issuer = issuer }), h.Mem.Stores(), h.Keys)
	if err != nil {
		f.Fatal(err)
	}
	fx := newFixture(f)
	e := &fuzzBrowserEnv{handler: srv.Handler()}
	e.id, _ = fx.Client("spa", v1alpha1.OAuthClientSpec{Public: true, Scopes: []string{"openid", "profile"},
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantImplicit}, RedirectURIs: []string{fuzzRedirect}})
	_, e.pw = fx.User("alice", v1alpha1.OAuthUserSpec{})
	e.query = url.Values{"client_id": {e.id}, "redirect_uri": {fuzzRedirect}, "response_type": {"code"}, "state": {"s"}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}.Encode()
	rec := e.serve(http.MethodGet, "/oauth/authorize", e.query, "", "")
	var cookies []string
	for _, c := range rec.Result().Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	e.cookie = strings.Join(cookies, "; ")
	e.loginFields = testhttp.HiddenFields(rec.Body.String())
	if rec.Code != http.StatusOK || e.cookie == "" || e.loginFields.Get("csrf_token") == "" {
		f.Fatalf("seed login form: %d cookie %q fields %v", rec.Code, e.cookie, e.loginFields)
	}
	return e
}

// serve runs one request through the handler; query is the raw query.
func (e *fuzzBrowserEnv) serve(method, path, query, cookie, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.URL.RawQuery = query
	if method == http.MethodPost {
		r.Header.Set("Content-Type", formType)
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

// fuzzCheckPage asserts no 5xx and an HTML page or a redirect to the
// registered redirect URI or one of the server's own pages.
func fuzzCheckPage(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("server error %d: %s", rec.Code, rec.Body)
	}
	if rec.Code >= 300 && rec.Code < 400 {
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Fatalf("%d with a bad Location: %v", rec.Code, err)
		}
		own := !loc.IsAbs() && loc.Host == "" && strings.HasPrefix(loc.Path, "/oauth/")
		if !own && loc.Scheme+"://"+loc.Host+loc.Path != fuzzRedirect {
			t.Fatalf("%d redirect to %q, not a registered redirect URI", rec.Code, loc)
		}
		return
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(rec.Body.String(), "</html>") {
		t.Fatalf("%d answer is not an HTML page (%q): %q", rec.Code, ct, rec.Body)
	}
}

func FuzzAuthorizeEndpoint(f *testing.F) {
	e := newFuzzBrowserEnv(f)
	implicit := strings.Replace(e.query, "response_type=code", "response_type=token", 1)
	for _, s := range []struct {
		post                bool
		query, cookie, body string
	}{
		{false, e.query, "", ""},
		{false, e.query, e.cookie, ""},
		{false, e.query + "&prompt=none", "", ""},
		{false, e.query + "&prompt=login&max_age=0", e.cookie, ""},
		{false, implicit + "&nonce=n&response_mode=fragment", "", ""},
		{false, "client_id=" + e.id + "&redirect_uri=http%3A%2F%2Flocalhost.attacker.example%2Fcb&response_type=code", "", ""},
		{false, "client_id=" + e.id + "&response_type=code&scope=openid&scope=admin", "tw_session=x.y", ""},
		{true, "", e.cookie, e.query},
		{true, "", "", "client_id=%zz"},
		{false, "%", "tw_login=" + strings.Repeat("A", 43), ""},
	} {
		f.Add(s.post, s.query, s.cookie, s.body)
	}
	f.Fuzz(func(t *testing.T, post bool, query, cookie, body string) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		fuzzCheckPage(t, e.serve(method, "/oauth/authorize", query, cookie, body))
	})
}

func FuzzLoginEndpoint(f *testing.F) {
	e := newFuzzBrowserEnv(f)
	withLogin := func(user, pw string) string {
		v := url.Values{}
		for k, vs := range e.loginFields {
			v[k] = vs
		}
		v.Set("username", user)
		v.Set("password", pw)
		return v.Encode()
	}
	for _, s := range [][2]string{
		{e.cookie, withLogin("alice", e.pw)},
		{e.cookie, withLogin("alice", "wrong")},
		{e.cookie, withLogin("", "")},
		{"", withLogin("alice", e.pw)},
		{"tw_login=" + strings.Repeat("A", 43), withLogin("alice", e.pw)},
		{e.cookie, withLogin("alice", e.pw) + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"},
		{e.cookie, "csrf_token=x&client_id=" + e.id},
		{e.cookie, "%zz"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cookie, body string) {
		fuzzCheckPage(t, e.serve(http.MethodPost, "/oauth/login", "", cookie, body))
	})
}

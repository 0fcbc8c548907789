package browser_test

// Fuzz targets of the browser endpoints (issue 12), over the memory stores
// and the handler itself. Each asserts: no panic, never a 5xx, and either an
// HTML page (the login, consent or error page) or a redirect to a redirect
// URI the client registered (or to the server's own /oauth/ pages), never
// anywhere else. The consent and logout targets start from a signed-in
// browser (session cookie, consent form, id_token_hint). hack/fuzz.sh runs each for a bounded time in make test.

import (
	"encoding/json"
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
	verifier    string
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
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantImplicit}, RedirectURIs: []string{fuzzRedirect},
		PostLogoutRedirectURIs: []string{fuzzRedirect}})
	_, e.pw = fx.User("alice", v1alpha1.OAuthUserSpec{})
	e.verifier = oauth2.GenerateVerifier()
	e.query = url.Values{"client_id": {e.id}, "redirect_uri": {fuzzRedirect}, "response_type": {"code"}, "state": {"s"}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(e.verifier)}, "code_challenge_method": {"S256"}}.Encode()
	rec := e.serve(http.MethodGet, "/oauth/authorize", e.query, "", "")
	e.cookie = withCookies("", rec)
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

// withCookies adds the cookies rec sets to the Cookie header cookie.
func withCookies(cookie string, rec *httptest.ResponseRecorder) string {
	parts := []string{}
	if cookie != "" {
		parts = append(parts, cookie)
	}
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}

// fuzzSession is what a signed-in browser holds, for the consent and
// logout seeds: its cookies, the consent form's fields, and an id_token of
// the code flow.
type fuzzSession struct {
	cookie        string
	consentFields url.Values
	idToken       string
}

// signIn signs alice in, takes the consent page, allows it and redeems the
// code.
func (e *fuzzBrowserEnv) signIn(f *testing.F) fuzzSession {
	f.Helper()
	v := url.Values{}
	for k, vs := range e.loginFields {
		v[k] = vs
	}
	v.Set("username", "alice")
	v.Set("password", e.pw)
	rec := e.serve(http.MethodPost, "/oauth/login", "", e.cookie, v.Encode())
	s := fuzzSession{cookie: withCookies(e.cookie, rec), consentFields: testhttp.HiddenFields(rec.Body.String())}
	if rec.Code != http.StatusOK || s.consentFields.Get("csrf_token") == "" {
		f.Fatalf("seed consent page: %d %s", rec.Code, rec.Body)
	}
	allow := url.Values{}
	for k, vs := range s.consentFields {
		allow[k] = vs
	}
	allow.Set("decision", "allow")
	rec = e.serve(http.MethodPost, "/oauth/consent", "", s.cookie, allow.Encode())
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		f.Fatalf("seed consent: %d %v", rec.Code, rec.Header())
	}
	s.cookie = withCookies(s.cookie, rec)
	tok := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {fuzzRedirect},
		"client_id": {e.id}, "code_verifier": {e.verifier}}
	rec = e.serve(http.MethodPost, "/oauth/token", "", "", tok.Encode())
	var body struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusOK || err != nil || body.IDToken == "" {
		f.Fatalf("seed code redemption: %d %s", rec.Code, rec.Body)
	}
	s.idToken = body.IDToken
	return s
}

func FuzzConsentEndpoint(f *testing.F) {
	e := newFuzzBrowserEnv(f)
	s := e.signIn(f)
	with := func(kv ...string) string {
		v := url.Values{}
		for k, vs := range s.consentFields {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, seed := range [][2]string{
		{s.cookie, with("decision", "allow")},
		{s.cookie, with("decision", "deny")},
		{s.cookie, with("decision", "maybe")},
		{"", with("decision", "allow")},
		{e.cookie, with("decision", "allow")},
		{s.cookie, with("decision", "allow", "scope", "openid admin")},
		{s.cookie, with("decision", "allow", "redirect_uri", "https://evil.example/cb")},
		{s.cookie, with("decision", "allow", "csrf_token", strings.Repeat("A", 43))},
		{s.cookie, "decision=allow"},
		{"tw_session=" + strings.Repeat("A", 80), "%zz"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, cookie, body string) {
		fuzzCheckPage(t, e.serve(http.MethodPost, "/oauth/consent", "", cookie, body))
	})
}

func FuzzLogoutEndpoint(f *testing.F) {
	e := newFuzzBrowserEnv(f)
	s := e.signIn(f)
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, seed := range []struct {
		post                bool
		query, cookie, body string
	}{
		{false, q("id_token_hint", s.idToken, "post_logout_redirect_uri", fuzzRedirect, "state", "s"), s.cookie, ""},
		{false, q("id_token_hint", s.idToken), "", ""},
		{false, q("client_id", e.id, "post_logout_redirect_uri", fuzzRedirect), s.cookie, ""},
		{false, q("post_logout_redirect_uri", "https://evil.example/cb"), s.cookie, ""},
		{false, q("id_token_hint", s.idToken, "client_id", "someone-else"), s.cookie, ""},
		{false, q("id_token_hint", s.idToken[:len(s.idToken)-2]+"AA"), s.cookie, ""},
		{true, "", s.cookie, q("id_token_hint", s.idToken, "csrf_token", strings.Repeat("A", 43))},
		{true, "", s.cookie, q("client_id", e.id, "csrf_token", "x")},
		{false, "", s.cookie, ""},
		{true, "", "", "%zz"},
	} {
		f.Add(seed.post, seed.query, seed.cookie, seed.body)
	}
	f.Fuzz(func(t *testing.T, post bool, query, cookie, body string) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		fuzzCheckPage(t, e.serve(method, "/oauth/logout", query, cookie, body))
	})
}

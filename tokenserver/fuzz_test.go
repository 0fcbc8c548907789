package tokenserver_test

// Fuzz targets of every token-server endpoint (issue 12), over the memory
// stores and the handler itself (no network, so a worker runs thousands of
// requests a second). Each asserts: no panic, never a 5xx, and an answer of
// the endpoint's protocol: JSON, and on an error an RFC 6749 / 6750 / 7009 /
// 8707 error code. hack/fuzz.sh runs each for a bounded time in make test.

import (
	"time"

	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// fuzzErrorCodes are the error codes an endpoint may answer bad input with.
var fuzzErrorCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, // RFC 6749 §5.2
	"invalid_token": true, "insufficient_scope": true, // RFC 6750 §3.1
	"unsupported_token_type": true, // RFC 7009 §2.2.1
	"invalid_target":         true, // RFC 8707 §2
}

// fuzzEnv is a server handler over the suite's memory stores with a client
// allowed every grant, a user, and live tokens for the seeds.
type fuzzEnv struct {
	handler                http.Handler
	ns, name, id, secret   string
	user, password         string
	access, refresh, basic string
	// sa is a ServiceAccount token the client's ServiceAccount holds.
	sa string
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	srv, err := tokenserver.New(servertest.Options(func(o *tokenserver.Options) { o.Issuer = issuer }), h.Mem.Stores(), h.Keys)
	if err != nil {
		f.Fatal(err)
	}
	fx := newFixture(f)
	e := &fuzzEnv{handler: srv.Handler(), ns: fx.NS, name: "app", user: "alice"}
	e.id, e.secret = fx.Client(e.name, v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword,
			v1alpha1.GrantRefreshToken, v1alpha1.GrantAuthorizationCode, v1alpha1.GrantTokenExchange},
		Scopes: []string{"openid", "profile", "offline_access", "api"}, RedirectURIs: []string{"https://app.example/cb"},
		Authentication: &v1alpha1.ClientAuthentication{ServiceAccounts: []string{"robot"}},
	})
	e.sa = h.Mem.Reviews.Issue(fx.NS, "robot", []string{issuer}, time.Hour)
	_, e.password = fx.User(e.user, v1alpha1.OAuthUserSpec{})
	e.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(e.id)+":"+url.QueryEscape(e.secret)))
	rec := e.serve(http.MethodPost, "/oauth/token", formType, e.basic,
		form("grant_type", "password", "username", e.user, "password", e.password, "scope", "openid offline_access"))
	var tok map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || rec.Code != http.StatusOK {
		f.Fatalf("seed tokens: %d %s", rec.Code, rec.Body)
	}
	e.access, _ = tok["access_token"].(string)
	e.refresh, _ = tok["refresh_token"].(string)
	return e
}

// serve runs one request through the handler.
func (e *fuzzEnv) serve(method, path, contentType, auth, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

// fuzzCheck asserts no 5xx and a JSON answer, with a known error code on an
// error. emptyOK allows an empty body for a status (revocation's 200, the
// RFC 6750 §3.1 401 without a token, which carries its challenge).
func fuzzCheck(t *testing.T, rec *httptest.ResponseRecorder, emptyOK int) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("server error %d: %s", rec.Code, rec.Body)
	}
	if rec.Body.Len() == 0 && rec.Code == emptyOK {
		if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without a Bearer challenge")
		}
		return
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%d answer is not a JSON object: %v: %q", rec.Code, err, rec.Body)
	}
	if rec.Code >= 400 {
		if code, _ := body["error"].(string); !fuzzErrorCodes[code] {
			t.Fatalf("%d with error code %q: %s", rec.Code, code, rec.Body)
		}
		return
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
	}
}

func FuzzTokenEndpoint(f *testing.F) {
	e := newFuzzEnv(f)
	post := "client_id=" + url.QueryEscape(e.id) + "&client_secret=" + url.QueryEscape(e.secret)
	for _, s := range []struct {
		perClient   bool
		contentType string
		auth, body  string
	}{
		{false, formType, e.basic, "grant_type=client_credentials&scope=api"},
		{false, "application/json", "", `{"grant_type":"client_credentials","client_id":"` + e.id + `","client_secret":"` + e.secret + `","scope":["api"]}`},
		{false, formType, "", "grant_type=password&username=alice&password=" + url.QueryEscape(e.password) + "&scope=openid+offline_access&" + post},
		{false, formType, e.basic, "grant_type=password&username=alice&password=wrong"},
		{false, formType, e.basic, "grant_type=refresh_token&refresh_token=" + url.QueryEscape(e.refresh)},
		{false, formType, e.basic, "grant_type=refresh_token&refresh_token=twr_AAAA_BBBB"},
		{false, formType, e.basic, "grant_type=authorization_code&code=twc_AAAA&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=" + strings.Repeat("v", 43)},
		{true, formType, "", "grant_type=client_credentials&" + post},
		{false, formType, e.basic, "grant_type=client_credentials&resource=https%3A%2F%2Fother&audience=x"},
		{false, formType, "Basic Og==", "grant_type=urn:ietf:params:oauth:grant-type:device_code"},
		{false, formType, "", "grant_type=client_credentials&client_assertion_type=" + url.QueryEscape(tokenserver.AssertionTypeJWTBearer) + "&client_assertion=" + e.sa},
		{true, formType, "", "grant_type=client_credentials&client_assertion_type=" + url.QueryEscape(tokenserver.AssertionTypeJWTBearer) + "&client_assertion=eyJhbGciOiJub25lIn0.e30."},
		{false, formType, e.basic, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=" + url.QueryEscape(e.access) +
			"&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&actor_token=" + e.sa + "&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"},
		{false, "text/plain", "Bearer x", `{"scope":"a","scope":"b"}`},
		{false, "", "", ""},
	} {
		f.Add(s.perClient, s.contentType, s.auth, s.body)
	}
	f.Fuzz(func(t *testing.T, perClient bool, contentType, auth, body string) {
		path := "/oauth/token"
		if perClient {
			path = "/clients/" + e.ns + "/" + e.name + "/token"
		}
		fuzzCheck(t, e.serve(http.MethodPost, path, contentType, auth, body), 0)
	})
}

func FuzzIntrospectEndpoint(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range [][3]string{
		{formType, e.basic, "token=" + url.QueryEscape(e.access)},
		{formType, e.basic, "token=" + url.QueryEscape(e.refresh) + "&token_type_hint=refresh_token"},
		{"application/json", e.basic, `{"token":"twr_x_y","token_type_hint":"access_token"}`},
		{formType, "", "token=abc&client_id=" + url.QueryEscape(e.id)},
		{formType, "Bearer " + e.access, "token=" + url.QueryEscape(e.access)},
		{formType, e.basic, "token=eyJhbGciOiJub25lIn0.e30."},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, contentType, auth, body string) {
		fuzzCheck(t, e.serve(http.MethodPost, "/oauth/introspect", contentType, auth, body), 0)
	})
}

func FuzzRevokeEndpoint(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range [][3]string{
		{formType, e.basic, "token=twr_AAAA_BBBB&token_type_hint=refresh_token"},
		{formType, e.basic, "token=" + url.QueryEscape(e.access) + "&token_type_hint=access_token"},
		{"application/json", e.basic, `{"token":"x"}`},
		{formType, "", "token=x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, contentType, auth, body string) {
		// RFC 7009 §2.2: a successful revocation is a 200 without a body.
		fuzzCheck(t, e.serve(http.MethodPost, "/oauth/revoke", contentType, auth, body), http.StatusOK)
	})
}

func FuzzUserinfoEndpoint(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range []struct {
		post                    bool
		contentType, auth, body string
	}{
		{false, "", "Bearer " + e.access, ""},
		{true, formType, "", "access_token=" + url.QueryEscape(e.access)},
		{false, "", "Bearer eyJhbGciOiJub25lIn0.e30.", ""},
		{false, "", "Basic Og==", ""},
		{true, "application/json", "", `{"access_token":["a","b"]}`},
		{false, "", "", ""},
	} {
		f.Add(s.post, s.contentType, s.auth, s.body)
	}
	f.Fuzz(func(t *testing.T, post bool, contentType, auth, body string) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		fuzzCheck(t, e.serve(method, "/userinfo", contentType, auth, body), http.StatusUnauthorized)
	})
}

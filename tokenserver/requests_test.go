package tokenserver_test

// Tests of the token server's request handling and errors, over raw HTTP to
// a server over the in-memory stores: request shapes, client authentication, response headers, the RFC
// 6749 §5.2 error table, hostile input, introspection (RFC 7662), revocation
// (RFC 7009) and userinfo (OpenID Connect Core §5.3, RFC 6750 errors).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// rqRawBasic is a Basic header without the form-encoding step.
func rqRawBasic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

// rqPercentAll percent-encodes every byte, which a form decoder must undo.
func rqPercentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func rqJSON(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	raw, _ := json.Marshal(m)
	return string(raw)
}

// rqWantToken asserts a successful token response and returns its body and
// the verified access token's claims.
func rqWantToken(t *testing.T, r response) (map[string]any, map[string]any) {
	t.Helper()
	tok, _ := r.Body["access_token"].(string)
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("want 200 with an access_token, got %d %s", r.Status, r.Raw)
	}
	_, claims := accessClaims(t, tok)
	return r.Body, claims
}

// rqWantError asserts an RFC 6749 §5.2 error response: status, error code,
// a JSON body of error and error_description, and the no-store headers.
func rqWantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Body["error"] != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.Status, r.Raw)
	}
	if d, _ := r.Body["error_description"].(string); d == "" {
		t.Errorf("error_description missing: %s", r.Raw)
	}
	for k := range r.Body {
		if k != "error" && k != "error_description" && k != "error_uri" {
			t.Errorf("unexpected member %q in error body %s", k, r.Raw)
		}
	}
	rqWantJSONNoStore(t, r)
}

func rqWantJSONNoStore(t *testing.T, r response) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	if !json.Valid([]byte(r.Raw)) || !utf8.ValidString(r.Raw) {
		t.Errorf("body is not valid UTF-8 JSON: %q", r.Raw)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if p := r.Header.Get("Pragma"); p != "no-cache" {
		t.Errorf("Pragma %q, want no-cache", p)
	}
}

// rqWantBasicChallenge asserts the RFC 6749 §5.2 answer to a failed HTTP Basic
// client authentication: 401 invalid_client with a Basic challenge.
func rqWantBasicChallenge(t *testing.T, r response) {
	t.Helper()
	rqWantError(t, r, http.StatusUnauthorized, "invalid_client")
	if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(strings.ToLower(h), "basic") {
		t.Errorf("WWW-Authenticate %q, want a Basic challenge", h)
	}
}

func rqRequest(t *testing.T, method, path, contentType string, body io.Reader, header ...string) response {
	t.Helper()
	return send(t, method, path, contentType, body, header...)
}

// rqSuffix makes a name unique per test from the fixture's namespace.
func rqSuffix(f *fixture) string { return strings.TrimPrefix(f.NS, "tw-test-") }

func TestTokenRequestShapes(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Scopes:     []string{"api.read", "api.write"},
	})
	u, pw := f.User("carol", v1alpha1.OAuthUserSpec{})
	basic := testhttp.Basic(id, secret)

	cc := func(t *testing.T, r response, scope string) {
		t.Helper()
		body, claims := rqWantToken(t, r)
		if claims["client_id"] != id || claims["sub"] != tokenserver.ClientSubject(id) || claims["iss"] != issuer || claims["tokenwarden.dev/namespace"] != f.NS {
			t.Fatalf("claims %v, want client_id %s, sub client:%[2]s and the namespace", claims, id)
		}
		if body["scope"] != scope || claims["scope"] != scope {
			t.Fatalf("scope %v / claim %v, want %q", body["scope"], claims["scope"], scope)
		}
	}
	t.Run("form body with client_secret_post", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", secret, "scope", "api.read")), "api.read")
	})
	t.Run("form body with charset parameter", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", formType+"; charset=UTF-8", form("grant_type", "client_credentials", "client_id", id, "client_secret", secret, "scope", "api.write")), "api.write")
	})
	t.Run("JSON body with client_secret_post", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", "application/json", rqJSON("grant_type", "client_credentials", "client_id", id, "client_secret", secret, "scope", "api.read")), "api.read")
	})
	t.Run("JSON body with a scope list", func(t *testing.T) {
		body := fmt.Sprintf(`{"grant_type":"client_credentials","client_id":%q,"client_secret":%q,"scope":["api.read","api.write"]}`, id, secret)
		cc(t, post(t, "/oauth/token", "application/json; charset=utf-8", body), "api.read api.write")
	})
	t.Run("JSON body declared as a form", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", formType, "\n  "+rqJSON("grant_type", "client_credentials", "client_id", id, "client_secret", secret, "scope", "api.read")), "api.read")
	})
	t.Run("HTTP Basic with a form body", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "scope", "api.read"), "Authorization", basic), "api.read")
	})
	t.Run("HTTP Basic with a JSON body", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", "application/json", rqJSON("grant_type", "client_credentials", "scope", "api.write"), "Authorization", basic), "api.write")
	})
	t.Run("HTTP Basic with the same client_id in the body", func(t *testing.T) {
		cc(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "scope", "api.read"), "Authorization", basic), "api.read")
	})
	t.Run("HTTP Basic with every byte percent-encoded", func(t *testing.T) {
		h := rqRawBasic(rqPercentAll(id) + ":" + rqPercentAll(secret))
		cc(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "scope", "api.read"), "Authorization", h), "api.read")
	})
	for _, path := range []string{"/token", "/api/v4/connect/token"} {
		t.Run("alias "+path, func(t *testing.T) {
			cc(t, post(t, path, formType, form("grant_type", "client_credentials", "scope", "api.read"), "Authorization", basic), "api.read")
			cc(t, post(t, path, "application/json", rqJSON("grant_type", "client_credentials", "client_id", id, "client_secret", secret, "scope", "api.write")), "api.write")
		})
	}
	pwGrant := func(t *testing.T, r response) {
		t.Helper()
		_, claims := rqWantToken(t, r)
		if claims["sub"] != string(u.UID) || claims["client_id"] != id || claims["preferred_username"] != "carol" {
			t.Fatalf("claims %v, want sub %s (the user), client_id %s", claims, u.UID, id)
		}
	}
	t.Run("password grant, form body", func(t *testing.T) {
		pwGrant(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "carol", "password", pw, "client_id", id, "client_secret", secret)))
	})
	t.Run("password grant, JSON body", func(t *testing.T) {
		pwGrant(t, post(t, "/oauth/token", "application/json", rqJSON("grant_type", "password", "username", "carol", "password", pw, "client_id", id, "client_secret", secret)))
	})
	t.Run("password grant, JSON declared as form, Basic", func(t *testing.T) {
		pwGrant(t, post(t, "/token", formType, rqJSON("grant_type", "password", "username", "carol", "password", pw), "Authorization", basic))
	})
}

// TestTokenBasicAuthFormEncoding uses a client whose id and secret hold
// characters that RFC 6749 §2.3.1 form-encoding changes: the spec's client ID
// pattern allows '~' and '.', and an adopted Secret can hold any secret.
func TestTokenBasicAuthFormEncoding(t *testing.T) {
	f := newFixture(t)
	const odd = "p+ss:w/rd%20&=é~ x?#"
	f.Create(secretWith("odd-credentials", map[string]string{"client_secret": odd}))
	wantID := "rq~odd." + rqSuffix(f)
	id, secret := f.Client("odd", v1alpha1.OAuthClientSpec{ClientID: wantID, SecretName: "odd-credentials", Scopes: []string{"api.read"}})
	if id != wantID || secret != odd {
		t.Fatalf("client %q secret %q: the adopted secret was not kept", id, secret)
	}
	ok := func(t *testing.T, r response) {
		t.Helper()
		if _, claims := rqWantToken(t, r); claims["client_id"] != id {
			t.Fatalf("client_id claim %v", claims["client_id"])
		}
	}
	body := form("grant_type", "client_credentials")
	t.Run("form-encoded Basic", func(t *testing.T) {
		ok(t, post(t, "/oauth/token", formType, body, "Authorization", testhttp.Basic(id, secret)))
	})
	t.Run("fully percent-encoded Basic", func(t *testing.T) {
		ok(t, post(t, "/oauth/token", formType, body, "Authorization", rqRawBasic(rqPercentAll(id)+":"+rqPercentAll(secret))))
	})
	t.Run("Basic without the form-encoding is a wrong secret", func(t *testing.T) {
		// "+" decodes to a space and "%20" to a space: the raw secret differs.
		rqWantBasicChallenge(t, post(t, "/oauth/token", formType, body, "Authorization", rqRawBasic(id+":"+secret)))
	})
	t.Run("client_secret_post form", func(t *testing.T) {
		ok(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)))
	})
	t.Run("client_secret_post JSON", func(t *testing.T) {
		ok(t, post(t, "/oauth/token", "application/json", rqJSON("grant_type", "client_credentials", "client_id", id, "client_secret", secret)))
	})
}

func TestTokenPerClientURL(t *testing.T) {
	f := newFixture(t)
	kiosk, _ := f.Client("kiosk", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	tablet, _ := f.Client("tablet", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	backend, backendSecret := f.Client("backend", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	u, pw := f.User("dave", v1alpha1.OAuthUserSpec{})
	signIn := form("grant_type", "password", "username", "dave", "password", pw)
	url := func(name string) string { return "/clients/" + f.NS + "/" + name + "/token" }

	for _, c := range []struct{ name, id string }{{"kiosk", kiosk}, {"tablet", tablet}, {"kiosk", kiosk}} {
		_, claims := rqWantToken(t, post(t, url(c.name), formType, signIn))
		if claims["client_id"] != c.id || claims["sub"] != string(u.UID) {
			t.Fatalf("%s: client_id %v sub %v, want %s and the user", url(c.name), claims["client_id"], claims["sub"], c.id)
		}
	}
	// JSON works too, and naming the path's own client is fine.
	rqWantToken(t, post(t, url("tablet"), "application/json", rqJSON("grant_type", "password", "username", "dave", "password", pw, "client_id", tablet)))
	// A client_id that is not the path's client is invalid_client.
	rqWantError(t, post(t, url("tablet"), formType, form("grant_type", "password", "username", "dave", "password", pw, "client_id", kiosk)), 401, "invalid_client")
	// A confidential client must still authenticate.
	rqWantError(t, post(t, url("backend"), formType, signIn), 401, "invalid_client")
	rqWantBasicChallenge(t, post(t, url("backend"), formType, signIn, "Authorization", testhttp.Basic(backend, "wrong")))
	_, claims := rqWantToken(t, post(t, url("backend"), formType, signIn, "Authorization", testhttp.Basic(backend, backendSecret)))
	if claims["client_id"] != backend {
		t.Fatalf("client_id %v, want %s", claims["client_id"], backend)
	}
	rqWantToken(t, post(t, url("backend"), formType, form("grant_type", "password", "username", "dave", "password", pw, "client_id", backend, "client_secret", backendSecret)))
	// An unknown client on the path.
	rqWantError(t, post(t, url("nobody"), formType, signIn), 401, "invalid_client")
	rqWantError(t, post(t, "/clients/no-such-namespace/kiosk/token", formType, signIn), 401, "invalid_client")
}

// rqDefaultClient makes sure the suite's --default-client legacy/default-app
// exists (another test, or an earlier -count run, may have put it) and
// returns its client_id.
func rqDefaultClient(t *testing.T) string {
	t.Helper()
	if c, err := h.Mem.Directory.ClientByName(context.Background(), "legacy", "default-app"); err == nil {
		if !c.Object.Spec.Public || !c.Object.HasGrant(v1alpha1.GrantPassword) {
			t.Fatalf("legacy/default-app exists but is not a public password client: %+v", c.Object.Spec)
		}
		return c.Object.Status.ClientID
	}
	id, _, _ := h.Client("legacy", "default-app", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	return id
}

func TestTokenDefaultClient(t *testing.T) {
	f := newFixture(t)
	defaultID := rqDefaultClient(t)
	name := "rq-" + rqSuffix(f)
	u, pw := (&fixture{T: t, H: h, NS: "legacy"}).User(name, v1alpha1.OAuthUserSpec{})
	t.Cleanup(func() { h.Mem.Directory.DeleteUser(u.Namespace, u.Name) })
	signIn := form("grant_type", "password", "username", name, "password", pw)

	for _, path := range []string{"/token", "/api/v4/connect/token"} {
		t.Run("no client identification on "+path, func(t *testing.T) {
			_, claims := rqWantToken(t, post(t, path, formType, signIn))
			if claims["client_id"] != defaultID || claims["sub"] != string(u.UID) {
				t.Fatalf("claims %v, want client_id %s and the user", claims, defaultID)
			}
			_, claims = rqWantToken(t, post(t, path, "application/json", rqJSON("grant_type", "password", "username", name, "password", pw)))
			if claims["client_id"] != defaultID {
				t.Fatalf("JSON: client_id %v", claims["client_id"])
			}
		})
	}
	t.Run("/oauth/token is not an alias: invalid_client", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/token", formType, signIn), 401, "invalid_client")
	})
	t.Run("an unknown client_id on an alias does not fall back", func(t *testing.T) {
		rqWantError(t, post(t, "/token", formType, form("grant_type", "password", "username", name, "password", pw, "client_id", "legacy.no-such-app")), 401, "invalid_client")
	})
	t.Run("an explicit client on an alias is that client", func(t *testing.T) {
		id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{})
		_, claims := rqWantToken(t, post(t, "/token", formType, form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(id, secret)))
		if claims["client_id"] != id {
			t.Fatalf("client_id %v, want %s", claims["client_id"], id)
		}
	})
}

func TestTokenRejectsBodiesThatAreNeitherFormNorJSON(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{Scopes: []string{"api.read"}})
	basic := testhttp.Basic(id, secret)
	xml := `<?xml version="1.0"?><request><grant_type>client_credentials</grant_type></request>`
	binary := string([]byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xfe, '%', 'z', 'z'})
	for _, c := range []struct{ name, contentType, body string }{
		{"XML as application/xml", "application/xml", xml},
		{"XML as text/xml", "text/xml", xml},
		{"XML declared as a form", formType, xml},
		{"XML without Content-Type", "", xml},
		{"binary as application/octet-stream", "application/octet-stream", binary},
		{"binary declared as a form", formType, binary},
		{"binary declared as JSON", "application/json", binary},
		{"multipart", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n"},
		{"unparseable Content-Type", "application/x-www-form-urlencoded; ;=", form("grant_type", "client_credentials")},
		{"JSON array", "application/json", `["grant_type","client_credentials"]`},
		{"JSON string", "application/json", `"grant_type=client_credentials"`},
		{"two JSON objects", "application/json", `{"grant_type":"client_credentials"}{"scope":"api.read"}`},
		{"empty body", formType, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rqWantError(t, post(t, "/oauth/token", c.contentType, c.body, "Authorization", basic), 400, "invalid_request")
		})
	}
}

func TestTokenResponseHeadersAndFields(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{
		GrantTypes:     []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Scopes:         []string{"api.read", "api.write"},
		AccessTokenTTL: &metav1.Duration{Duration: 5 * time.Minute},
	})
	_, pw := f.User("erin", v1alpha1.OAuthUserSpec{})
	for _, c := range []struct{ name, body, scope string }{
		{"client_credentials", form("grant_type", "client_credentials", "scope", "api.write api.read"), "api.write api.read"},
		{"client_credentials default scope", form("grant_type", "client_credentials"), "api.read api.write"},
		{"password", form("grant_type", "password", "username", "erin", "password", pw, "scope", "api.read"), "api.read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := time.Now()
			r := post(t, "/oauth/token", formType, c.body, "Authorization", testhttp.Basic(id, secret))
			after := time.Now()
			body, claims := rqWantToken(t, r)
			rqWantJSONNoStore(t, r)
			if body["token_type"] != "Bearer" {
				t.Errorf("token_type %v, want Bearer", body["token_type"])
			}
			if body["expires_in"] != float64(300) {
				t.Errorf("expires_in %v, want 300", body["expires_in"])
			}
			if body["scope"] != c.scope {
				t.Errorf("scope %v, want %q", body["scope"], c.scope)
			}
			if _, ok := body["refresh_token"]; ok {
				t.Errorf("refresh_token issued to a client without the refresh_token grant")
			}
			ms, _ := body["issued_at"].(float64)
			if ms != math.Trunc(ms) || int64(ms) < before.UnixMilli()-1000 || int64(ms) > after.UnixMilli()+1000 {
				t.Errorf("issued_at %v, want Unix milliseconds between %d and %d", body["issued_at"], before.UnixMilli(), after.UnixMilli())
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if exp-iat != 300 || math.Abs(iat*1000-ms) > 1000 {
				t.Errorf("iat %v exp %v issued_at %v: want exp-iat = 300 and iat = issued_at/1000", iat, exp, ms)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	f := newFixture(t)
	cc, ccSecret := f.Client("cc", v1alpha1.OAuthClientSpec{
		Scopes: []string{"api.read", "openid"}, Audiences: []string{"https://api.example.com"},
	})
	pwc, pwSecret := f.Client("pw", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"openid", "offline_access", "api.read"},
	})
	pub, _ := f.Client("pub", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	_, userPW := f.User("gina", v1alpha1.OAuthUserSpec{})
	ccBasic, pwBasic := testhttp.Basic(cc, ccSecret), testhttp.Basic(pwc, pwSecret)
	ccPost := func(kv ...string) string {
		return form(append([]string{"client_id", cc, "client_secret", ccSecret}, kv...)...)
	}
	wellFormedUnknownRefresh := "twr_" + strings.Repeat("ab", 16) + "_" + strings.Repeat("x", 43)

	const (
		basicChallenge = iota + 1
		noChallenge
	)
	tests := []struct {
		name        string
		contentType string
		body        string
		auth        string
		status      int
		code        string
		challenge   int // 0: not checked
		bug         string
	}{
		// invalid_request
		{"missing grant_type", formType, ccPost("scope", "api.read"), "", 400, "invalid_request", noChallenge, ""},
		{"empty grant_type", formType, ccPost("grant_type", ""), "", 400, "invalid_request", noChallenge, ""},
		{"repeated grant_type", formType, "grant_type=client_credentials&grant_type=client_credentials", ccBasic, 400, "invalid_request", noChallenge, ""},
		{"repeated scope", formType, "grant_type=client_credentials&scope=api.read&scope=api.read", ccBasic, 400, "invalid_request", noChallenge, ""},
		{"repeated client_id", formType, ccPost("grant_type", "client_credentials") + "&client_id=" + url.QueryEscape(cc), "", 400, "invalid_request", noChallenge, ""},
		{"malformed JSON", "application/json", `{"grant_type": "client_credentials",`, ccBasic, 400, "invalid_request", noChallenge, ""},
		{"JSON with a nested object", "application/json", `{"grant_type":"client_credentials","scope":{"a":1}}`, ccBasic, 400, "invalid_request", noChallenge, ""},
		{"JSON list of non-strings", "application/json", `{"grant_type":"client_credentials","scope":[1,2]}`, ccBasic, 400, "invalid_request", noChallenge, ""},
		{"malformed form escape", formType, "grant_type=client_credentials&scope=%zz", ccBasic, 400, "invalid_request", noChallenge, ""},
		{"Basic and client_secret in the body", formType, ccPost("grant_type", "client_credentials"), ccBasic, 400, "invalid_request", noChallenge, ""},
		{"Basic and another client_id in the body", formType, form("grant_type", "client_credentials", "client_id", pwc), ccBasic, 400, "invalid_request", noChallenge, ""},
		{"password grant without username", formType, form("grant_type", "password", "password", "x"), pwBasic, 400, "invalid_request", noChallenge, ""},
		{"password grant without password", formType, form("grant_type", "password", "username", "gina"), pwBasic, 400, "invalid_request", noChallenge, ""},
		{"refresh grant without refresh_token", formType, form("grant_type", "refresh_token"), pwBasic, 400, "invalid_request", noChallenge, ""},
		// invalid_client
		{"Basic, wrong secret", formType, form("grant_type", "client_credentials"), testhttp.Basic(cc, "wrong"), 401, "invalid_client", basicChallenge, ""},
		{"Basic, unknown client", formType, form("grant_type", "client_credentials"), testhttp.Basic("no.such-client", "wrong"), 401, "invalid_client", basicChallenge, ""},
		{"Basic, empty secret", formType, form("grant_type", "client_credentials"), testhttp.Basic(cc, ""), 401, "invalid_client", basicChallenge, ""},
		{"Basic, not Base64", formType, form("grant_type", "client_credentials"), "Basic %%%not-base64", 401, "invalid_client", basicChallenge, ""},
		{"Basic, no colon", formType, form("grant_type", "client_credentials"), rqRawBasic(cc), 401, "invalid_client", basicChallenge, ""},
		{"Basic, bad percent-encoding", formType, form("grant_type", "client_credentials"), rqRawBasic(cc + ":%zz"), 401, "invalid_client", basicChallenge, ""},
		{"Basic, public client with a secret", formType, form("grant_type", "password", "username", "gina", "password", userPW), testhttp.Basic(pub, "anything"), 401, "invalid_client", basicChallenge, ""},
		{"unsupported Authorization scheme", formType, form("grant_type", "client_credentials"), "Bearer " + ccSecret, 401, "invalid_client", basicChallenge, ""},
		{"body, wrong secret", formType, form("grant_type", "client_credentials", "client_id", cc, "client_secret", "wrong"), "", 401, "invalid_client", 0, ""},
		{"body, unknown client", formType, form("grant_type", "client_credentials", "client_id", "no.such-client", "client_secret", "wrong"), "", 401, "invalid_client", 0, ""},
		{"JSON body, wrong secret", "application/json", rqJSON("grant_type", "client_credentials", "client_id", cc, "client_secret", "wrong"), "", 401, "invalid_client", 0, ""},
		{"confidential client without its secret", formType, form("grant_type", "client_credentials", "client_id", cc), "", 401, "invalid_client", 0, ""},
		{"no client authentication at all", formType, form("grant_type", "client_credentials"), "", 401, "invalid_client", 0, ""},
		{"public client presenting a secret", formType, form("grant_type", "password", "username", "gina", "password", userPW, "client_id", pub, "client_secret", "anything"), "", 401, "invalid_client", 0, ""},
		// unsupported_grant_type
		{"unknown grant_type", formType, ccPost("grant_type", "foo"), "", 400, "unsupported_grant_type", noChallenge, ""},
		{"implicit is not a token endpoint grant", formType, ccPost("grant_type", "implicit"), "", 400, "unsupported_grant_type", noChallenge, ""},
		{"grant_type is case-sensitive", formType, ccPost("grant_type", "Client_Credentials"), "", 400, "unsupported_grant_type", noChallenge, ""},
		{"unknown grant_type, no client", formType, form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), "", 400, "unsupported_grant_type", noChallenge, ""},
		// unauthorized_client
		{"client_credentials client asking password", formType, form("grant_type", "password", "username", "gina", "password", userPW), ccBasic, 400, "unauthorized_client", noChallenge, ""},
		{"client_credentials client asking refresh_token", formType, form("grant_type", "refresh_token", "refresh_token", wellFormedUnknownRefresh), ccBasic, 400, "unauthorized_client", noChallenge, ""},
		{"password client asking client_credentials", formType, form("grant_type", "client_credentials"), pwBasic, 400, "unauthorized_client", noChallenge, ""},
		{"public client asking client_credentials", formType, form("grant_type", "client_credentials", "client_id", pub), "", 400, "unauthorized_client", noChallenge, ""},
		{"public client asking refresh_token", formType, form("grant_type", "refresh_token", "client_id", pub, "refresh_token", wellFormedUnknownRefresh), "", 400, "unauthorized_client", noChallenge, ""},
		// invalid_scope
		{"scope outside the client's", formType, form("grant_type", "client_credentials", "scope", "api.read admin"), ccBasic, 400, "invalid_scope", noChallenge, ""},
		{"scope differing in case", formType, form("grant_type", "client_credentials", "scope", "API.READ"), ccBasic, 400, "invalid_scope", noChallenge, ""},
		{"openid on client_credentials", formType, form("grant_type", "client_credentials", "scope", "openid"), ccBasic, 400, "invalid_scope", noChallenge, ""},
		{"password grant scope outside the client's", formType, form("grant_type", "password", "username", "gina", "password", userPW, "scope", "email"), pwBasic, 400, "invalid_scope", noChallenge, ""},
		// audience outside the client's (RFC 8707 invalid_target)
		{"audience outside the client's", formType, form("grant_type", "client_credentials", "audience", "https://evil.example.com"), ccBasic, 400, "invalid_target", noChallenge, ""},
		{"one of two audiences outside", formType, form("grant_type", "client_credentials", "audience", "https://api.example.com https://evil.example.com"), ccBasic, 400, "invalid_target", noChallenge, ""},
		{"resource outside the client's", formType, form("grant_type", "client_credentials", "resource", "https://evil.example.com"), ccBasic, 400, "invalid_target", noChallenge, ""},
		// invalid_grant
		{"wrong user password", formType, form("grant_type", "password", "username", "gina", "password", userPW+"x"), pwBasic, 400, "invalid_grant", noChallenge, ""},
		{"garbage refresh token", formType, form("grant_type", "refresh_token", "refresh_token", "garbage"), pwBasic, 400, "invalid_grant", noChallenge, ""},
		{"unknown refresh token", formType, form("grant_type", "refresh_token", "refresh_token", wellFormedUnknownRefresh), pwBasic, 400, "invalid_grant", noChallenge, ""},
		{"access token as refresh token", formType, form("grant_type", "refresh_token", "refresh_token", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"), pwBasic, 400, "invalid_grant", noChallenge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip(tt.bug)
			}
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			r := post(t, "/oauth/token", tt.contentType, tt.body, hdr...)
			rqWantError(t, r, tt.status, tt.code)
			switch h := r.Header.Get("WWW-Authenticate"); tt.challenge {
			case basicChallenge:
				if !strings.HasPrefix(strings.ToLower(h), "basic ") {
					t.Errorf("WWW-Authenticate %q, want a Basic challenge", h)
				}
			case noChallenge:
				if h != "" {
					t.Errorf("WWW-Authenticate %q on a non-401 error", h)
				}
			}
		})
	}
}

// TestTokenInvalidClientBodyCredentialsChallenge: RFC 9110 §15.5.2 (and RFC
// 6749 §5.2, whose 401 exists "to indicate which HTTP authentication schemes
// are supported") require a WWW-Authenticate challenge on every 401.
func TestTokenInvalidClientBodyCredentialsChallenge(t *testing.T) {
	f := newFixture(t)
	id, _ := f.Client("svc", v1alpha1.OAuthClientSpec{})
	for _, r := range []response{
		post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", "wrong")),
		post(t, "/oauth/token", formType, form("grant_type", "client_credentials")),
		post(t, "/oauth/introspect", formType, form("token", "x")),
	} {
		if r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate: %s", r.Raw)
		}
	}
}

func TestTokenInvalidClientAnswersAreIdentical(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{})
	unknown := id + "-gone"
	if _, claims := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(id, secret))); claims["client_id"] != id {
		t.Fatal("the known client does not work")
	}
	type variant func(clientID, secret string) response
	variants := map[string]variant{
		"Basic": func(c, s string) response {
			return post(t, "/oauth/token", formType, form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(c, s))
		},
		"form body": func(c, s string) response {
			return post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", c, "client_secret", s))
		},
		"JSON body": func(c, s string) response {
			return post(t, "/oauth/token", "application/json", rqJSON("grant_type", "client_credentials", "client_id", c, "client_secret", s))
		},
		"alias form body": func(c, s string) response {
			return post(t, "/token", formType, form("grant_type", "client_credentials", "client_id", c, "client_secret", s))
		},
		"introspection Basic": func(c, s string) response {
			return post(t, "/oauth/introspect", formType, form("token", "x"), "Authorization", testhttp.Basic(c, s))
		},
		"revocation form body": func(c, s string) response {
			return post(t, "/oauth/revoke", formType, form("token", "x", "client_id", c, "client_secret", s))
		},
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			wrong := v(id, secret+"x")
			missing := v(unknown, secret+"x")
			unknownRightSecret := v(unknown, secret)
			rqWantError(t, wrong, 401, "invalid_client")
			for _, other := range []response{missing, unknownRightSecret} {
				if other.Status != wrong.Status || other.Raw != wrong.Raw ||
					other.Header.Get("WWW-Authenticate") != wrong.Header.Get("WWW-Authenticate") ||
					other.Header.Get("Content-Type") != wrong.Header.Get("Content-Type") {
					t.Fatalf("answers differ:\nwrong secret:   %d %q %q\nunknown client: %d %q %q", wrong.Status, wrong.Header.Get("WWW-Authenticate"), wrong.Raw,
						other.Status, other.Header.Get("WWW-Authenticate"), other.Raw)
				}
			}
		})
	}
}

func TestTokenEndpointMethods(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{})
	for _, path := range []string{"/oauth/token", "/token", "/api/v4/connect/token", "/clients/" + f.NS + "/svc/token"} {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			t.Run(m+" "+path, func(t *testing.T) {
				q := "?" + form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)
				r := rqRequest(t, m, path+q, formType, strings.NewReader(form("grant_type", "client_credentials")), "Authorization", testhttp.Basic(id, secret))
				if r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusBadRequest {
					t.Fatalf("status %d, want 405 or 400: %s", r.Status, r.Raw)
				}
				rqWantError(t, r, r.Status, "invalid_request")
				if r.Status == http.StatusMethodNotAllowed && !strings.Contains(r.Header.Get("Allow"), http.MethodPost) {
					t.Errorf("405 with Allow %q", r.Header.Get("Allow"))
				}
			})
		}
	}
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodGet, "/oauth/introspect", "POST"},
		{http.MethodPut, "/oauth/introspect", "POST"},
		{http.MethodGet, "/oauth/revoke", "POST"},
		{http.MethodDelete, "/oauth/revoke", "POST"},
		{http.MethodPut, "/userinfo", "GET, POST"},
		{http.MethodDelete, "/userinfo", "GET, POST"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := rqRequest(t, c.method, c.path, formType, strings.NewReader(form("token", "x")), "Authorization", testhttp.Basic(id, secret))
			rqWantError(t, r, http.StatusMethodNotAllowed, "invalid_request")
			if r.Header.Get("Allow") != c.allow {
				t.Errorf("Allow %q, want %q", r.Header.Get("Allow"), c.allow)
			}
		})
	}
}

// rqExactBody pads a form body with parameters the server must ignore (RFC
// 6749 §3.2) to exactly n bytes.
func rqExactBody(t *testing.T, base string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(base)
	for i := 0; b.Len() < n; i++ {
		room := n - b.Len() - len("&pad"+strconv.Itoa(i)+"=")
		if room < 0 {
			t.Fatalf("cannot pad to %d", n)
		}
		fmt.Fprintf(&b, "&pad%d=%s", i, strings.Repeat("x", min(room, 8000)))
	}
	if b.Len() != n {
		t.Fatalf("padded to %d, want %d", b.Len(), n)
	}
	return b.String()
}

func TestTokenOversizedBody(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{})
	basic := testhttp.Basic(id, secret)
	const limit = 64 << 10 // Options.MaxBodyBytes default
	t.Run("exactly the limit is read", func(t *testing.T) {
		rqWantToken(t, post(t, "/oauth/token", formType, rqExactBody(t, "grant_type=client_credentials", limit), "Authorization", basic))
	})
	t.Run("one byte over", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/token", formType, rqExactBody(t, "grant_type=client_credentials", limit+1), "Authorization", basic), 400, "invalid_request")
	})
	big := "grant_type=client_credentials&pad=" + strings.Repeat("x", 1<<20)
	t.Run("1 MiB form", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/token", formType, big, "Authorization", basic), 400, "invalid_request")
	})
	t.Run("1 MiB JSON", func(t *testing.T) {
		body := `{"grant_type":"client_credentials","pad":"` + strings.Repeat("x", 1<<20) + `"}`
		rqWantError(t, post(t, "/oauth/token", "application/json", body, "Authorization", basic), 400, "invalid_request")
	})
	t.Run("chunked without Content-Length", func(t *testing.T) {
		// An io.Reader of unknown length is sent chunked.
		body := io.MultiReader(strings.NewReader(big))
		r := rqRequest(t, http.MethodPost, "/oauth/token", formType, body, "Authorization", basic)
		rqWantError(t, r, 400, "invalid_request")
	})
	for _, path := range []string{"/oauth/introspect", "/oauth/revoke"} {
		t.Run(path, func(t *testing.T) {
			rqWantError(t, post(t, path, formType, "token="+strings.Repeat("x", 1<<20), "Authorization", basic), 400, "invalid_request")
		})
	}
	t.Run("userinfo", func(t *testing.T) {
		r := post(t, "/userinfo", formType, "access_token="+strings.Repeat("x", 1<<20))
		if r.Status != http.StatusUnauthorized && r.Status != http.StatusBadRequest && r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
	})
}

// rqManyParams is n distinct parameters, short enough to stay under the body
// limit.
func rqManyParams(n int) (formBody, jsonBody string) {
	var fb, jb strings.Builder
	jb.WriteString("{")
	for i := 0; i < n; i++ {
		k := strconv.FormatInt(int64(i), 36)
		if i > 0 {
			fb.WriteString("&")
			jb.WriteString(",")
		}
		fb.WriteString(k + "=1")
		jb.WriteString(`"` + k + `":1`)
	}
	return fb.String(), jb.String()
}

// TestTokenHostileInput: nothing a client sends yields a 500, a panic or a
// body that is not valid UTF-8 JSON.
func TestTokenHostileInput(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"api.read"},
	})
	_, userPW := f.User("hal", v1alpha1.OAuthUserSpec{})
	f.User("hashed", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: bcryptOf(t, "correct horse")}})
	basic := testhttp.Basic(id, secret)
	// Go's url.ParseQuery refuses more than 10,000 parameters; below that,
	// unknown parameters are ignored (RFC 6749 §3.2).
	manyForm, _ := rqManyParams(9000)
	tooManyForm, tooManyJSON := rqManyParams(10001)
	_, manyJSON := rqManyParams(6000)
	withCreds := "grant_type=client_credentials&" + form("client_id", id, "client_secret", secret)
	longScope := strings.TrimSpace(strings.Repeat("nope ", 1600))
	deep := `{"grant_type":"client_credentials","scope":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + "}"

	tests := []struct {
		name        string
		contentType string
		body        string
		auth        string
		status      int    // 0: any status below 500
		code        string // "" : not checked
	}{
		{"9000 unknown parameters are ignored", formType, withCreds + "&" + manyForm, "", 200, ""},
		{"6000 unknown JSON members are ignored", "application/json", strings.TrimSuffix(manyJSON, "}") + `,"grant_type":"client_credentials"}`, basic, 200, ""},
		{"10k parameters with credentials", formType, withCreds + "&" + tooManyForm, "", 400, "invalid_request"},
		{"10k parameters with Basic", formType, "grant_type=client_credentials&" + tooManyForm, basic, 400, "invalid_request"},
		{"10k JSON members", "application/json", strings.TrimSuffix(tooManyJSON, "}") + `,"grant_type":"client_credentials"}`, basic, 400, "invalid_request"},
		{"10k empty parameters", formType, "grant_type=client_credentials" + strings.Repeat("&", 10000), basic, 0, ""},
		{"semicolon separators", formType, "grant_type=client_credentials;scope=api.read", basic, 400, "invalid_request"},
		{"scope repeated 900 times", formType, form("grant_type", "client_credentials", "scope", strings.TrimSpace(strings.Repeat("api.read ", 900))), basic, 200, ""},
		{"8000-byte scope of unknown scopes", formType, form("grant_type", "client_credentials", "scope", longScope), basic, 400, "invalid_scope"},
		{"scope over 8 KiB", formType, form("grant_type", "client_credentials", "scope", strings.Repeat("a", 9000)), basic, 400, "invalid_request"},
		{"scope over 8 KiB in JSON", "application/json", rqJSON("grant_type", "client_credentials", "scope", strings.Repeat("a", 9000)), basic, 400, "invalid_request"},
		{"huge grant_type", formType, form("grant_type", strings.Repeat("g", 8000)), basic, 400, "unsupported_grant_type"},
		{"huge parameter name", formType, strings.Repeat("k", 30000) + "=1&grant_type=client_credentials", basic, 0, ""},
		{"NUL in grant_type", formType, "grant_type=client_credentials%00", basic, 400, "unsupported_grant_type"},
		{"NUL in scope", formType, "grant_type=client_credentials&scope=api.read%00", basic, 400, "invalid_scope"},
		{"NUL in client_id", formType, form("grant_type", "client_credentials", "client_id", id+"\x00", "client_secret", secret), "", 401, "invalid_client"},
		{"NUL in Basic client id", formType, form("grant_type", "client_credentials"), testhttp.Basic(id+"\x00", secret), 401, "invalid_client"},
		{"NUL in JSON", "application/json", `{"grant_type":"client_credentials\u0000","client_id":"` + id + `"}`, "", 400, "unsupported_grant_type"},
		{"raw NUL bytes", formType, "grant_type=client_credentials&\x00\x00=\x00", basic, 0, ""},
		{"invalid UTF-8 in scope", formType, "grant_type=client_credentials&scope=%FF%FE%C0%AF", basic, 400, "invalid_scope"},
		{"invalid UTF-8 at the truncation point", formType, "grant_type=" + strings.Repeat("a", 39) + "%C3%A9%FF", basic, 400, "unsupported_grant_type"},
		{"invalid UTF-8 in client_id", formType, "grant_type=client_credentials&client_id=%FF%FE&client_secret=x", "", 401, "invalid_client"},
		{"raw invalid UTF-8 in JSON", "application/json", "{\"grant_type\":\"client_credentials\",\"scope\":\"\xff\xfe\"}", basic, 400, "invalid_scope"},
		{"raw invalid UTF-8 in a JSON key", "application/json", "{\"\xff\":\"x\",\"grant_type\":\"client_credentials\"}", basic, 0, ""},
		{"deeply nested JSON", "application/json", deep, basic, 400, "invalid_request"},
		{"JSON with huge number", "application/json", `{"grant_type":"client_credentials","scope":1e999999}`, basic, 0, ""},
		{"JSON with duplicate keys", "application/json", `{"grant_type":"password","grant_type":"client_credentials"}`, basic, 0, ""},
		{"Basic header of 20 KiB", formType, form("grant_type", "client_credentials"), rqRawBasic(strings.Repeat("a", 15000) + ":" + "b"), 401, "invalid_client"},
		{"Basic without credentials", formType, form("grant_type", "client_credentials"), "Basic", 401, "invalid_client"},
		{"Basic with only spaces", formType, form("grant_type", "client_credentials"), "Basic      ", 401, "invalid_client"},
		{"Authorization with only a space", formType, form("grant_type", "client_credentials"), " ", 0, ""},
		{"refresh token over 8 KiB", formType, form("grant_type", "refresh_token", "refresh_token", "twr_"+strings.Repeat("a", 9000)), basic, 400, "invalid_request"},
		{"refresh token with a huge secret", formType, form("grant_type", "refresh_token", "refresh_token", "twr_"+strings.Repeat("ab", 16)+"_"+strings.Repeat("s", 8000)), basic, 400, "invalid_grant"},
		{"refresh token with a NUL", formType, form("grant_type", "refresh_token", "refresh_token", "twr_"+strings.Repeat("ab", 16)+"_\x00"), basic, 400, "invalid_grant"},
		{"refresh token with a non-hex family", formType, form("grant_type", "refresh_token", "refresh_token", "twr_"+strings.Repeat("zz", 16)+"_abc"), basic, 400, "invalid_grant"},
		{"refresh token naming another object", formType, form("grant_type", "refresh_token", "refresh_token", "twr_../../x_abc"), basic, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			r := post(t, "/oauth/token", tt.contentType, tt.body, hdr...)
			rqCheckHostileAnswer(t, r, tt.status, tt.code)
		})
	}

	// Password-grant input goes through a separate server instance: failed
	// sign-ins count against the source address (127.0.0.1, shared by every
	// test), and this table must not use up the suite's budget.
	other := startServer(t, tokenserver.Options{})
	for _, tt := range []struct {
		name, username, password, code string
	}{
		{"NUL in username", "hal\x00", userPW, "invalid_grant"},
		{"invalid UTF-8 username", "hal\xff", userPW, "invalid_grant"},
		{"8000-byte username", strings.Repeat("u", 8000), userPW, "invalid_grant"},
		{"username with a colon and slash", "ns/hal:x", userPW, "invalid_grant"},
		{"8000-byte password", "hal", strings.Repeat("p", 8000), "invalid_grant"},
		{"8000-byte password, hash user", "hashed", strings.Repeat("p", 8000), "invalid_grant"},
		{"73-byte password sharing a hash user's first 72 bytes", "hashed", "correct horse" + strings.Repeat("x", 60), "invalid_grant"},
		{"NUL in password, hash user", "hashed", "correct horse\x00", "invalid_grant"},
		{"invalid UTF-8 password", "hal", "\xff\xfe", "invalid_grant"},
	} {
		t.Run("password grant: "+tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, other+"/oauth/token", strings.NewReader(form("grant_type", "password", "username", tt.username, "password", tt.password)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", formType)
			req.Header.Set("Authorization", basic)
			rqCheckHostileAnswer(t, do(t, req), 400, tt.code)
		})
	}
}

func rqCheckHostileAnswer(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status >= 500 || r.Status == 0 {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	if status != 0 && r.Status != status {
		t.Fatalf("status %d, want %d: %.300s", r.Status, status, r.Raw)
	}
	if r.Status != http.StatusOK {
		if code != "" {
			rqWantError(t, r, r.Status, code)
		} else if e, _ := r.Body["error"].(string); e == "" {
			t.Fatalf("status %d without a JSON error: %.300q", r.Status, r.Raw)
		}
		rqWantJSONNoStore(t, r)
		if len(r.Raw) > 1024 {
			t.Errorf("the error echoes %d bytes back", len(r.Raw))
		}
	}
}

// rqIntrospect posts token to the introspection endpoint with Basic auth.
func rqIntrospect(t *testing.T, id, secret, token string) response {
	t.Helper()
	r := post(t, "/oauth/introspect", formType, form("token", token), "Authorization", testhttp.Basic(id, secret))
	if r.Status != http.StatusOK {
		t.Fatalf("introspection: %d %s", r.Status, r.Raw)
	}
	rqWantJSONNoStore(t, r)
	return r
}

func rqRevoke(t *testing.T, id, secret, token string, kv ...string) {
	t.Helper()
	r := post(t, "/oauth/revoke", formType, form(append([]string{"token", token}, kv...)...), "Authorization", testhttp.Basic(id, secret))
	if r.Status != http.StatusOK {
		t.Fatalf("revocation: %d %s", r.Status, r.Raw)
	}
}

// rqInactive asserts an RFC 7662 §2.2 inactive answer: active false and
// nothing else.
func rqInactive(t *testing.T, r response) {
	t.Helper()
	if r.Body["active"] != false || len(r.Body) != 1 {
		t.Fatalf("want {\"active\":false}, got %s", r.Raw)
	}
}

// rqEventuallyInactive waits for a revocation to reach introspection.
func rqEventuallyInactive(t *testing.T, id, secret, token string) {
	t.Helper()
	eventually(t, func() string { return rqIntrospect(t, id, secret, token).Raw }).
		WithTimeout(5 * time.Second).Should(gomega.MatchJSON(`{"active":false}`))
}

func TestIntrospection(t *testing.T) {
	f := newFixture(t)
	rs, rsSecret := f.Client("rs", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"api.read", "api.write", "offline_access"},
	})
	pub, _ := f.Client("app", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	u, pw := f.User("ivan", v1alpha1.OAuthUserSpec{})
	basic := testhttp.Basic(rs, rsSecret)
	body, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "scope", "api.read"), "Authorization", basic))
	access := body["access_token"].(string)

	t.Run("client authentication is required", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/introspect", formType, form("token", access)), 401, "invalid_client")
		rqWantBasicChallenge(t, post(t, "/oauth/introspect", formType, form("token", access), "Authorization", testhttp.Basic(rs, "wrong")))
		rqWantError(t, post(t, "/oauth/introspect", formType, form("token", access, "client_id", rs, "client_secret", "wrong")), 401, "invalid_client")
		rqWantError(t, post(t, "/oauth/introspect", formType, form("token", access, "client_id", pub)), 401, "invalid_client")
	})
	t.Run("token is required", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/introspect", formType, form("token_type_hint", "access_token"), "Authorization", basic), 400, "invalid_request")
	})
	t.Run("access token just issued", func(t *testing.T) {
		r := rqIntrospect(t, rs, rsSecret, access)
		exp, _ := r.Body["exp"].(float64)
		if r.Body["active"] != true || r.Body["scope"] != "api.read" || r.Body["client_id"] != rs || r.Body["sub"] != "client:"+rs ||
			!strings.EqualFold(fmt.Sprint(r.Body["token_type"]), "Bearer") || r.Body["iss"] != issuer {
			t.Fatalf("introspection %s", r.Raw)
		}
		if d := time.Until(time.Unix(int64(exp), 0)); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("exp in %v, want about 1h", d)
		}
	})
	t.Run("with client_secret_post and JSON", func(t *testing.T) {
		r := post(t, "/oauth/introspect", "application/json", rqJSON("token", access, "client_id", rs, "client_secret", rsSecret))
		if r.Status != 200 || r.Body["active"] != true {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("garbage and tampered tokens are inactive", func(t *testing.T) {
		rqInactive(t, rqIntrospect(t, rs, rsSecret, "garbage"))
		parts := strings.Split(access, ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(claims), `"api.read"`, `"api.write"`, 1)
		rqInactive(t, rqIntrospect(t, rs, rsSecret, parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte(forged))+"."+parts[2]))
		rqInactive(t, rqIntrospect(t, rs, rsSecret, parts[0]+"."+parts[1]+"."))
		rqInactive(t, rqIntrospect(t, rs, rsSecret, "twr_"+strings.Repeat("ab", 16)+"_x"))
	})
	t.Run("another tenant's client sees it inactive", func(t *testing.T) {
		g := newFixture(t)
		peer, peerSecret := g.Client("peer", v1alpha1.OAuthClientSpec{})
		rqInactive(t, rqIntrospect(t, peer, peerSecret, access))
	})
	t.Run("password grant access and refresh tokens", func(t *testing.T) {
		body, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "ivan", "password", pw, "scope", "api.read offline_access"), "Authorization", basic))
		at, _ := body["access_token"].(string)
		rt, _ := body["refresh_token"].(string)
		if rt == "" {
			t.Fatalf("no refresh token: %v", body)
		}
		r := rqIntrospect(t, rs, rsSecret, at)
		if r.Body["active"] != true || r.Body["sub"] != string(u.UID) || r.Body["username"] != "ivan" || r.Body["client_id"] != rs {
			t.Fatalf("access token introspection %s", r.Raw)
		}
		r = rqIntrospect(t, rs, rsSecret, rt)
		exp, _ := r.Body["exp"].(float64)
		if r.Body["active"] != true || r.Body["client_id"] != rs || r.Body["sub"] != string(u.UID) || r.Body["scope"] != "api.read offline_access" || exp <= float64(time.Now().Unix()) {
			t.Fatalf("refresh token introspection %s", r.Raw)
		}
		rqRevoke(t, rs, rsSecret, rt)
		rqEventuallyInactive(t, rs, rsSecret, rt)
		// Revoking the refresh token does not revoke the access token here.
		rqRevoke(t, rs, rsSecret, at)
		rqEventuallyInactive(t, rs, rsSecret, at)
	})
	t.Run("revoked access token", func(t *testing.T) {
		rqRevoke(t, rs, rsSecret, access)
		rqEventuallyInactive(t, rs, rsSecret, access)
	})
}

func TestRevocation(t *testing.T) {
	f := newFixture(t)
	spec := v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"api.read", "offline_access"},
	}
	a, aSecret := f.Client("a", spec)
	b, bSecret := f.Client("b", spec)
	pub, _ := f.Client("pub", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}, Scopes: []string{"offline_access"}})
	_, pw := f.User("judy", v1alpha1.OAuthUserSpec{})
	signIn := func(t *testing.T, id, secret string) (access, refresh string) {
		t.Helper()
		body, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "judy", "password", pw, "scope", "offline_access"), "Authorization", testhttp.Basic(id, secret)))
		access, _ = body["access_token"].(string)
		refresh, _ = body["refresh_token"].(string)
		if refresh == "" {
			t.Fatalf("no refresh token: %v", body)
		}
		return access, refresh
	}
	refresh := func(t *testing.T, id, secret, tok string) response {
		t.Helper()
		return post(t, "/oauth/token", formType, form("grant_type", "refresh_token", "refresh_token", tok), "Authorization", testhttp.Basic(id, secret))
	}

	t.Run("client authentication is required", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/revoke", formType, form("token", "x")), 401, "invalid_client")
		rqWantBasicChallenge(t, post(t, "/oauth/revoke", formType, form("token", "x"), "Authorization", testhttp.Basic(a, "wrong")))
	})
	t.Run("token is required", func(t *testing.T) {
		rqWantError(t, post(t, "/oauth/revoke", formType, form("token_type_hint", "refresh_token"), "Authorization", testhttp.Basic(a, aSecret)), 400, "invalid_request")
	})
	t.Run("unknown tokens are 200", func(t *testing.T) {
		for _, tok := range []string{"garbage", "twr_" + strings.Repeat("ab", 16) + "_x", "twr_nonsense", "a.b.c"} {
			r := post(t, "/oauth/revoke", formType, form("token", tok), "Authorization", testhttp.Basic(a, aSecret))
			if r.Status != http.StatusOK {
				t.Fatalf("revoke %q: %d %s", tok, r.Status, r.Raw)
			}
		}
	})
	t.Run("revoked refresh token fails with invalid_grant", func(t *testing.T) {
		_, rt := signIn(t, a, aSecret)
		rqRevoke(t, a, aSecret, rt, "token_type_hint", "refresh_token")
		rqWaitFamilyGone(t, f.NS, rt)
		rqWantError(t, refresh(t, a, aSecret, rt), 400, "invalid_grant")
		rqWantError(t, refresh(t, a, aSecret, rt), 400, "invalid_grant")
	})
	t.Run("revoking a rotated family's current token", func(t *testing.T) {
		_, rt := signIn(t, a, aSecret)
		body, _ := rqWantToken(t, refresh(t, a, aSecret, rt))
		next, _ := body["refresh_token"].(string)
		rqRevoke(t, a, aSecret, next)
		rqEventuallyInactive(t, a, aSecret, next)
		rqWantError(t, refresh(t, a, aSecret, next), 400, "invalid_grant")
	})
	t.Run("a wrong token_type_hint still revokes", func(t *testing.T) {
		at, _ := signIn(t, a, aSecret)
		rqRevoke(t, a, aSecret, at, "token_type_hint", "refresh_token")
		rqEventuallyInactive(t, a, aSecret, at)
	})
	t.Run("a public client revokes its own refresh token", func(t *testing.T) {
		body, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "judy", "password", pw, "scope", "offline_access", "client_id", pub)))
		rt, _ := body["refresh_token"].(string)
		r := post(t, "/oauth/revoke", formType, form("token", rt, "client_id", pub))
		if r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		rqWaitFamilyGone(t, f.NS, rt)
		rqWantError(t, post(t, "/oauth/token", formType, form("grant_type", "refresh_token", "refresh_token", rt, "client_id", pub)), 400, "invalid_grant")
	})
	t.Run("another client cannot revoke", func(t *testing.T) {
		at, rt := signIn(t, a, aSecret)
		for _, tok := range []string{at, rt} {
			r := post(t, "/oauth/revoke", formType, form("token", tok), "Authorization", testhttp.Basic(b, bSecret))
			if r.Status != http.StatusOK && r.Status != http.StatusBadRequest && r.Status != http.StatusForbidden {
				t.Fatalf("foreign revoke: %d %s", r.Status, r.Raw)
			}
		}
		// A revocation by a itself, made afterwards, reaching introspection
		// shows that b's attempts had their chance to take effect.
		marker, _ := signIn(t, a, aSecret)
		rqRevoke(t, a, aSecret, marker)
		rqEventuallyInactive(t, a, aSecret, marker)
		if r := rqIntrospect(t, a, aSecret, at); r.Body["active"] != true {
			t.Fatalf("another client revoked the access token: %s", r.Raw)
		}
		rqWantToken(t, refresh(t, a, aSecret, rt))
	})
}

// rqWaitFamilyGone fails unless the refresh family of rt was removed from
// the store. (That its Secret leaves the cluster is test/integration's
// TestRevocation.)
func rqWaitFamilyGone(t *testing.T, ns, rt string) {
	t.Helper()
	rest, _ := strings.CutPrefix(rt, "twr_")
	id, _, ok := strings.Cut(rest, "_")
	if !ok {
		t.Fatalf("refresh token %q is not twr_<family>_<secret>", rt)
	}
	if _, err := h.Mem.Families.Get(context.Background(), ns, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("family %s of a revoked token is still stored (%v)", id, err)
	}
}

// TestRevocationThenImmediateRefresh: RFC 7009 §2.2 — once the revocation
// answered 200 the token is invalid, so a refresh with it is invalid_grant
// (RFC 6749 §5.2), never a server error.
func TestRevocationThenImmediateRefresh(t *testing.T) {
	f := newFixture(t)
	a, aSecret := f.Client("a", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}, Scopes: []string{"offline_access"},
	})
	_, pw := f.User("kim", v1alpha1.OAuthUserSpec{})
	for i := 0; i < 10; i++ {
		body, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "kim", "password", pw, "scope", "offline_access"), "Authorization", testhttp.Basic(a, aSecret)))
		rt, _ := body["refresh_token"].(string)
		rqRevoke(t, a, aSecret, rt)
		rqWantError(t, post(t, "/oauth/token", formType, form("grant_type", "refresh_token", "refresh_token", rt), "Authorization", testhttp.Basic(a, aSecret)), 400, "invalid_grant")
	}
}

func TestUserinfo(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("web", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Scopes:     []string{"openid", "profile", "email", "api.read"},
	})
	u, pw := f.User("frank", v1alpha1.OAuthUserSpec{
		Email: "frank@example.com", EmailVerified: true, DisplayName: "Frank Example", Groups: []string{"ops"},
		Claims: map[string]string{"team": "blue", "sub": "spoofed", "email": "spoofed@example.com"},
	})
	token := func(t *testing.T, scope string) string {
		t.Helper()
		body, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "frank", "password", pw, "scope", scope), "Authorization", testhttp.Basic(id, secret)))
		return body["access_token"].(string)
	}
	userinfo := func(t *testing.T, method, tok string) response {
		t.Helper()
		var hdr []string
		if tok != "" {
			hdr = []string{"Authorization", "Bearer " + tok}
		}
		return rqRequest(t, method, "/userinfo", "", nil, hdr...)
	}
	full := token(t, "openid profile email")

	wantClaims := func(t *testing.T, r response, want map[string]any, absent ...string) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("userinfo: %d %s", r.Status, r.Raw)
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		for k, v := range want {
			if fmt.Sprint(r.Body[k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v (%s)", k, r.Body[k], v, r.Raw)
			}
		}
		for _, k := range absent {
			if _, ok := r.Body[k]; ok {
				t.Errorf("%s released: %s", k, r.Raw)
			}
		}
	}
	all := map[string]any{
		"sub": string(u.UID), "email": "frank@example.com", "email_verified": true, "name": "Frank Example",
		"preferred_username": "frank", "groups": []any{"ops"}, "team": "blue",
	}
	t.Run("GET with openid profile email", func(t *testing.T) { wantClaims(t, userinfo(t, http.MethodGet, full), all) })
	t.Run("POST with a Bearer header", func(t *testing.T) { wantClaims(t, userinfo(t, http.MethodPost, full), all) })
	t.Run("POST with access_token in a form body", func(t *testing.T) {
		wantClaims(t, post(t, "/userinfo", formType, form("access_token", full)), all)
	})
	t.Run("openid only: sub only", func(t *testing.T) {
		wantClaims(t, userinfo(t, http.MethodGet, token(t, "openid")), map[string]any{"sub": string(u.UID)},
			"email", "email_verified", "name", "preferred_username", "groups", "team")
	})
	t.Run("openid email: no profile claims", func(t *testing.T) {
		wantClaims(t, userinfo(t, http.MethodGet, token(t, "openid email")), map[string]any{"sub": string(u.UID), "email": "frank@example.com"},
			"name", "preferred_username", "groups", "team")
	})
	t.Run("without openid: insufficient_scope", func(t *testing.T) {
		r := userinfo(t, http.MethodGet, token(t, "profile email api.read"))
		if r.Status != http.StatusForbidden {
			t.Fatalf("status %d, want 403: %s", r.Status, r.Raw)
		}
		if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, `error="insufficient_scope"`) {
			t.Fatalf("WWW-Authenticate %q", h)
		}
		if _, leaked := r.Body["email"]; leaked {
			t.Fatalf("claims released without openid: %s", r.Raw)
		}
	})
	t.Run("no token: 401 Bearer challenge without an error code", func(t *testing.T) {
		for _, r := range []response{
			userinfo(t, http.MethodGet, ""),
			userinfo(t, http.MethodPost, ""),
			rqRequest(t, http.MethodGet, "/userinfo", "", nil, "Authorization", testhttp.Basic(id, secret)),
		} {
			h := r.Header.Get("WWW-Authenticate")
			if r.Status != http.StatusUnauthorized || !strings.HasPrefix(h, "Bearer") {
				t.Fatalf("status %d WWW-Authenticate %q", r.Status, h)
			}
			// RFC 6750 §3.1: no error code when the request has no token.
			if strings.Contains(h, "error=") {
				t.Errorf("WWW-Authenticate %q carries an error code", h)
			}
		}
	})
	t.Run("invalid tokens: 401 invalid_token", func(t *testing.T) {
		cc, _ := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "scope", "api.read"), "Authorization", testhttp.Basic(id, secret)))
		parts := strings.Split(full, ".")
		for name, tok := range map[string]string{
			"garbage":                      "garbage",
			"unsigned":                     parts[0] + "." + parts[1] + ".",
			"client_credentials (no user)": cc["access_token"].(string),
			"refresh-token shaped":         "twr_" + strings.Repeat("ab", 16) + "_x",
			"very long":                    strings.Repeat("a", 9000),
			"signature of another token":   parts[0] + "." + parts[1] + "." + strings.Split(cc["access_token"].(string), ".")[2],
		} {
			r := userinfo(t, http.MethodGet, tok)
			h := r.Header.Get("WWW-Authenticate")
			if r.Status != http.StatusUnauthorized || !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, `error="invalid_token"`) {
				t.Errorf("%s: status %d WWW-Authenticate %q %s", name, r.Status, h, r.Raw)
			}
		}
	})
	t.Run("revoked access token: 401 invalid_token", func(t *testing.T) {
		tok := token(t, "openid")
		wantClaims(t, userinfo(t, http.MethodGet, tok), map[string]any{"sub": string(u.UID)})
		rqRevoke(t, id, secret, tok)
		eventually(t, func() int { return userinfo(t, http.MethodGet, tok).Status }).WithTimeout(5 * time.Second).Should(gomega.Equal(http.StatusUnauthorized))
		h := userinfo(t, http.MethodGet, tok).Header.Get("WWW-Authenticate")
		if !strings.Contains(h, `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate %q", h)
		}
		// Other tokens of the user still work.
		wantClaims(t, userinfo(t, http.MethodGet, full), all)
	})
}

// Package testhttp is the HTTP client side of the test suites that speak to
// a token server over loopback (tokenserver, tokenserver/browser,
// test/integration, test/tenancy): raw answers read whole, form bodies,
// client_secret_basic headers, JWT payloads, and a browser that keeps cookies
// and follows no redirect. It knows nothing of Tokenwarden's endpoints; the
// flows through its pages are in tokenserver/servertest.
package testhttp

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FormType is the content type of an HTML form body.
const FormType = "application/x-www-form-urlencoded"

// Response is an HTTP answer read whole: the status, the headers, the body
// as sent and, when it is a JSON object, decoded.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Do sends req with hc (http.DefaultClient when nil) and reads the answer.
// It does not fail a test, so goroutines may call it.
func Do(hc *http.Client, req *http.Request) (Response, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r, err
}

// MustDo sends req with the default client and fails t when no answer comes.
func MustDo(t testing.TB, req *http.Request) Response {
	t.Helper()
	r, err := Do(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// NewRequest builds a request with contentType (when not empty) and header,
// given as key, value, ...
func NewRequest(method, u, contentType string, body io.Reader, header ...string) (*http.Request, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req, nil
}

// Send makes a request to u with the default client; header is key, value,
// ... It fails t when no answer comes.
func Send(t testing.TB, method, u, contentType string, body io.Reader, header ...string) Response {
	t.Helper()
	req, err := NewRequest(method, u, contentType, body, header...)
	if err != nil {
		t.Fatal(err)
	}
	return MustDo(t, req)
}

// Post posts body to u (see Send).
func Post(t testing.TB, u, contentType, body string, header ...string) Response {
	t.Helper()
	return Send(t, http.MethodPost, u, contentType, strings.NewReader(body), header...)
}

// PostForm posts the form kv (see Form) to u with hc, authenticated with
// client_secret_basic as id when id is not empty. It does not fail a test,
// so goroutines may call it.
func PostForm(hc *http.Client, u, id, secret string, kv ...string) (Response, error) {
	req, err := FormRequest(u, id, secret, kv...)
	if err != nil {
		return Response{}, err
	}
	return Do(hc, req)
}

// FormRequest is a POST of the form kv to u, authenticated with
// client_secret_basic as id when id is not empty.
func FormRequest(u, id, secret string, kv ...string) (*http.Request, error) {
	var header []string
	if id != "" {
		header = []string{"Authorization", Basic(id, secret)}
	}
	return NewRequest(http.MethodPost, u, FormType, strings.NewReader(Form(kv...)), header...)
}

// Form encodes the pairs kv (key, value, ...) as a form body.
func Form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// Basic is a client_secret_basic Authorization header: id and secret are
// form-encoded before Base64 (RFC 6749 §2.3.1).
func Basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// JWTClaims decodes a compact JWT's payload without verifying it: the tests
// that call it read what the server issued, not whether it signed it.
func JWTClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// Audiences is a JWT's aud claim as a list (a string or an array, RFC 7519
// §4.1.3).
func Audiences(claims map[string]any) []string {
	switch v := claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

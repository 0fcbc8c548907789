package browser_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// The browser flow is served by the token server (it mounts the browser's
// routes), over the in-memory stores: no API server is needed.
var (
	h      *servertest.Harness
	issuer string
)

func TestMain(m *testing.M) {
	servertest.Main(m, nil, func(started *servertest.Harness) { h, issuer = started, started.Issuer })
}

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond)
}

type fixture = servertest.Fixture

func newFixture(t testing.TB) *fixture { return h.NewFixture(t) }

// startServer starts another server over the same state; fields of o left
// zero keep the defaults.
func startServer(t testing.TB, o tokenserver.Options) string {
	t.Helper()
	return h.StartReplicaWith(t, o)
}

const formType = testhttp.FormType

// introspect asks the introspection endpoint about tok as the client id.
func introspect(t testing.TB, id, secret, tok string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return decodeJSON(t, req)
}

// getJSON GETs a JSON document.
func getJSON(t testing.TB, u string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, req)
}

func decodeJSON(t testing.TB, req *http.Request) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return body
}

// response is a token endpoint answer.
type response = testhttp.Response

// postTokenForm sends a form to the token endpoint.
func postTokenForm(t testing.TB, v url.Values) response {
	t.Helper()
	return testhttp.Post(t, issuer+"/oauth/token", formType, v.Encode())
}

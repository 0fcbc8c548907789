package tokenserver_test

// The protocol tests run against one token server over the in-memory stores
// (servertest): no API server, no KUBEBUILDER_ASSETS. What needs the cluster
// (the stored format, cache lag, replicas writing through the API server,
// the controllers) is tested in test/integration.

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

var (
	// h is the suite's token server and its in-memory state.
	h      *servertest.Harness
	issuer string
)

func TestMain(m *testing.M) {
	servertest.Main(m, func(o *tokenserver.Options) {
		o.TokenPathAliases = []string{"/token", "/api/v4/connect/token"}
		o.DefaultClient = &types.NamespacedName{Namespace: "legacy", Name: "default-app"}
		o.RefreshGrace = 2 * time.Second
	}, func(started *servertest.Harness) { h, issuer = started, started.Issuer })
}

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond)
}

// fixture puts clients, users and Secrets in a fresh namespace.
type fixture = servertest.Fixture

func newFixture(t testing.TB) *fixture { return h.NewFixture(t) }

// response is a raw HTTP answer.
type response = testhttp.Response

// post posts body to the suite's server at path; header is key, value, ...
func post(t testing.TB, path, contentType, body string, header ...string) response {
	t.Helper()
	return testhttp.Post(t, issuer+path, contentType, body, header...)
}

// send makes a request to the suite's token server; header is key, value, ...
func send(t testing.TB, method, path, contentType string, body io.Reader, header ...string) response {
	t.Helper()
	return testhttp.Send(t, method, issuer+path, contentType, body, header...)
}

// do sends req and reads the answer.
func do(t testing.TB, req *http.Request) response {
	t.Helper()
	return testhttp.MustDo(t, req)
}

// form encodes key, value, ... as a form body.
func form(kv ...string) string { return testhttp.Form(kv...) }

const formType = testhttp.FormType

// startServer starts another token server over the suite's state (the same
// stores and signing keys), e.g. a second replica or one with a fake clock,
// and returns its base URL. Fields of o left zero take the server's defaults
// (not the suite's aliases or grace). It stops with the test.
func startServer(t testing.TB, o tokenserver.Options) string {
	t.Helper()
	return h.StartReplicaWith(t, o)
}

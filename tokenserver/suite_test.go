package tokenserver_test

// The protocol tests run against one token server over the in-memory stores
// (servertest): no API server, no KUBEBUILDER_ASSETS. What needs the cluster
// (the stored format, cache lag, replicas writing through the API server,
// the controllers) is tested in test/integration.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

var (
	// h is the suite's token server and its in-memory state.
	h      *servertest.Harness
	issuer string
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	h, err = servertest.New(ctx, func(o *tokenserver.Options) {
		o.TokenPathAliases = []string{"/token", "/api/v4/connect/token"}
		o.DefaultClient = &types.NamespacedName{Namespace: "legacy", Name: "default-app"}
		o.RefreshGrace = 2 * time.Second
	})
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, "start the token server:", err)
		os.Exit(1)
	}
	issuer = h.Issuer
	code := m.Run()
	cancel()
	os.Exit(code)
}

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond)
}

// fixture puts clients, users and Secrets in a fresh namespace.
type fixture = servertest.Fixture

func newFixture(t testing.TB) *fixture { return h.NewFixture(t) }

// response is a raw HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t testing.TB, path, contentType, body string, header ...string) response {
	t.Helper()
	return send(t, http.MethodPost, path, contentType, strings.NewReader(body), header...)
}

// send makes a request to the suite's token server; header is key, value, ...
func send(t testing.TB, method, path, contentType string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, issuer+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

const formType = "application/x-www-form-urlencoded"

// startServer starts another token server over the suite's state (the same
// stores and signing keys), e.g. a second replica or one with a fake clock,
// and returns its base URL. Fields of o left zero take the server's defaults
// (not the suite's aliases or grace). It stops with the test.
func startServer(t testing.TB, o tokenserver.Options) string {
	t.Helper()
	return h.StartReplicaWith(t, o)
}

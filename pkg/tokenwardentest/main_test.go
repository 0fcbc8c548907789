// The tests of this package use the harness the way another team would: an
// external test package that starts its own envtest control plane and imports
// only Tokenwarden's public packages.
package tokenwardentest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenwarden/tokenwarden/pkg/tokenwardentest"
	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

var tw *tokenwardentest.Tokenwarden

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	if err := ensureAssets(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		_ = env.Stop()
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tw, err = tokenwardentest.Start(ctx, cfg, tokenwardentest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tw.Stop()
	// The APIs the tests call: their audiences are granted to the clients
	// of every namespace (each test makes its own).
	if err := tw.CreateResource(ctx, &v1alpha1.OAuthResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "invoices-api"},
		Spec: v1alpha1.OAuthResourceSpec{Audience: apiAudience, Scopes: []string{"invoices.read", "invoices.write"},
			Grants: []v1alpha1.ResourceGrant{{NamespaceSelector: &metav1.LabelSelector{}, Scopes: []string{"invoices.read", "invoices.write"}}}},
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := tw.CreateResource(ctx, &v1alpha1.OAuthResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other-api"},
		Spec: v1alpha1.OAuthResourceSpec{Audience: "https://other.example.com", Scopes: []string{"invoices.read"},
			Grants: []v1alpha1.ResourceGrant{{NamespaceSelector: &metav1.LabelSelector{}, Scopes: []string{"invoices.read"}}}},
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// ensureAssets finds kube-apiserver and etcd the way this repository's
// Makefile does, when KUBEBUILDER_ASSETS is not set.
func ensureAssets() error {
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return nil
	}
	cmd := exec.Command("bash", "../../hack/setup-envtest.sh")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("KUBEBUILDER_ASSETS is unset and hack/setup-envtest.sh failed: %w", err)
	}
	return os.Setenv("KUBEBUILDER_ASSETS", strings.TrimSpace(string(out)))
}

func namespace(t *testing.T) string {
	t.Helper()
	ns, err := tw.CreateNamespace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// countingTransport counts JWKS requests.
type countingTransport struct{ jwks atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/jwks.json") {
		c.jwks.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// api is a resource server with one route per scope, behind v.
func api(t *testing.T, v *verifier.Verifier) *httptest.Server {
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFromContext(r.Context())
		fmt.Fprint(w, c.ClientID)
	})
	mux.Handle("/read", v.Require("invoices.read")(ok))
	mux.Handle("/write", v.Require("invoices.write")(ok))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// call sends token to url and returns the status and the challenge.
func call(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

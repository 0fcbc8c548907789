// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// Tokenwarden CRDs installed, for integration tests. Each test package starts
// one in TestMain; each test works in its own namespace.
package testenv

import (
	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenwarden/tokenwarden/internal/operator"
)

// Env is a running control plane.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// RepoRoot finds the module root by walking up to go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Start starts kube-apiserver and etcd with the CRDs of config/crd/bases. When
// KUBEBUILDER_ASSETS is unset it runs hack/setup-envtest.sh, so a plain
// `go test` works too (the first run may build the binaries).
func Start() (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		cmd := exec.Command("bash", filepath.Join(root, "hack", "setup-envtest.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("setup-envtest: %w", err)
		}
		os.Setenv("KUBEBUILDER_ASSETS", strings.TrimSpace(string(out)))
	}
	e := &Env{Scheme: operator.Scheme(), env: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}}
	if e.Config, err = e.env.Start(); err != nil {
		// A failure after the processes started (e.g. a CRD the API server
		// refuses) must not leave them running.
		_ = e.env.Stop()
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		_ = e.env.Stop()
		return nil, fmt.Errorf("client: %w", err)
	}
	return e, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// Main is a TestMain body: start the control plane, run setup (typically
// starting a manager; it returns how to stop it), run the tests, stop.
//
// Controller logs are discarded unless TOKENWARDEN_TEST_LOGS is set, so that a
// failing test's output is its own.
func Main(m *testing.M, env **Env, setup func(*Env) (func(), error)) {
	if os.Getenv("TOKENWARDEN_TEST_LOGS") != "" {
		ctrllog.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		ctrllog.SetLogger(logr.Discard())
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	stop := func() {}
	if setup != nil {
		if stop, err = setup(e); err != nil {
			fmt.Fprintln(os.Stderr, "test setup:", err)
			_ = e.Stop()
			os.Exit(1)
		}
	}
	code := m.Run()
	stop()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// Namespace creates a fresh namespace for one test and returns its name.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tw-test-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// RunManager starts mgr in the background. stop cancels its context and waits
// until it has stopped.
func RunManager(ctx context.Context, cancel context.CancelFunc, mgr manager.Manager) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return func() { cancel(); <-done }
}

// OperatorOptions are the operator's defaults as tests run it: no metrics or
// probe listeners, no leader election (one manager per test process), the
// token server on a loopback port, and several managers allowed per process.
func OperatorOptions(namespace, issuer string) operator.Options {
	o := operator.DefaultOptions()
	o.Namespace, o.IssuerURL = namespace, issuer
	o.MetricsAddr, o.ProbeAddr, o.LeaderElection = "0", "0", false
	o.SkipControllerNameValidation = true
	o.Token.Addr = "127.0.0.1:0"
	return o
}

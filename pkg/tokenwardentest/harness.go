// Package tokenwardentest runs Tokenwarden inside your own envtest suite: the
// controllers and the token server on a loopback port, against the
// *rest.Config of the kube-apiserver your tests already start. Start installs
// the CRDs, starts the operator and waits until its JWKS answers; helpers
// create OAuthClients and OAuthUsers, wait for them to be Ready and usable,
// and read their credentials.
//
// Controller-runtime logs through its global logger: set one in TestMain
// (ctrl.SetLogger) or its warning appears after a while.
package tokenwardentest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/config/crd"
	"github.com/tokenwarden/tokenwarden/internal/operator"
)

// Options configure Start. The zero value is a good default.
type Options struct {
	// Namespace holds the operator's own state (signing keys, revocation
	// records); created when missing. Default "tokenwarden-system".
	Namespace string
	// Timeout bounds each wait of the harness (default 30 s).
	Timeout time.Duration
}

// Tokenwarden is a running operator and token server.
type Tokenwarden struct {
	// IssuerURL is the token server's base URL and the iss of its tokens,
	// http://127.0.0.1:<port>.
	IssuerURL string
	// Namespace is the operator's namespace.
	Namespace string
	// Client reads and writes the API server directly, with Tokenwarden's
	// types registered.
	Client client.Client

	mgr     manager.Manager
	timeout time.Duration
	// publishAhead is the operator's key publish-ahead.
	publishAhead time.Duration
	stop         func()
}

// Start installs the CRDs into the API server of cfg, starts Tokenwarden and
// returns once its token server serves the JWKS. ctx bounds the start only;
// Tokenwarden runs until Stop.
func Start(ctx context.Context, cfg *rest.Config, o Options) (*Tokenwarden, error) {
	if o.Namespace == "" {
		o.Namespace = "tokenwarden-system"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if err := installCRDs(cfg); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
	}
	tw := &Tokenwarden{Namespace: o.Namespace, Client: c, timeout: o.Timeout}
	if err := tw.startOperator(cfg, o); err != nil {
		return nil, err
	}
	if err := tw.waitServing(ctx); err != nil {
		tw.Stop()
		return nil, err
	}
	return tw, nil
}

// installCRDs writes the embedded CRDs to a temporary directory and installs
// them with envtest, which waits until the API server serves them.
func installCRDs(cfg *rest.Config) error {
	dir, err := os.MkdirTemp("", "tokenwarden-crds-")
	if err != nil {
		return fmt.Errorf("install crds: %w", err)
	}
	defer os.RemoveAll(dir)
	files, err := fs.Glob(crd.Bases, "bases/*.yaml")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("install crds: none embedded (%v)", err)
	}
	for _, f := range files {
		b, err := crd.Bases.ReadFile(f)
		if err != nil {
			return fmt.Errorf("install crds: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			return fmt.Errorf("install crds: %w", err)
		}
	}
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{dir}, ErrorIfPathMissing: true, Scheme: operator.Scheme(),
	})
	if err != nil {
		return fmt.Errorf("install crds: %w", err)
	}
	return nil
}

// startOperator builds the manager with the token server on a loopback
// port and runs it in the background.
func (tw *Tokenwarden) startOperator(cfg *rest.Config, o Options) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	tw.IssuerURL = "http://" + ln.Addr().String()
	opts := operator.DefaultOptions()
	opts.Namespace, opts.IssuerURL = o.Namespace, tw.IssuerURL
	opts.MetricsAddr, opts.ProbeAddr, opts.LeaderElection = "0", "0", false
	opts.SkipControllerNameValidation = true
	opts.Token.Listener = ln
	tw.publishAhead = opts.Keys.PublishAhead
	ctx, cancel := context.WithCancel(context.Background())
	if tw.mgr, err = operator.NewManager(ctx, cfg, opts); err != nil {
		cancel()
		ln.Close()
		return fmt.Errorf("start tokenwarden: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := tw.mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "tokenwardentest: manager:", err)
		}
	}()
	tw.stop = func() { cancel(); <-done }
	return nil
}

// waitServing waits until the JWKS and discovery answer 200.
func (tw *Tokenwarden) waitServing(ctx context.Context) error {
	err := tw.poll(ctx, func(ctx context.Context) (bool, error) {
		for _, p := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
			if getStatus(ctx, tw.IssuerURL+p) != http.StatusOK {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("token server at %s did not become ready: %w", tw.IssuerURL, err)
	}
	return nil
}

func getStatus(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// poll runs cond every 50 ms until it is true, fails, or the harness
// timeout (or ctx) ends.
func (tw *Tokenwarden) poll(ctx context.Context, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, tw.timeout, true, cond)
}

// Stop stops the operator and the token server and waits until they have
// stopped. The CRDs, namespaces and objects stay: they go with the API server.
func (tw *Tokenwarden) Stop() {
	if tw.stop != nil {
		tw.stop()
		tw.stop = nil
	}
}

// errNotReady reports an object that never became Ready.
var errNotReady = errors.New("not ready")

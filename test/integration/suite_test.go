// Package integration_test runs the token server inside the operator's
// manager against a real API server (envtest), for what the in-memory
// protocol tests in tokenserver cannot show: the stored form of refresh
// families, cache lag, replicas racing through the API server, what the
// controllers do to sessions, and an upgrade from the previous release's
// stored format. It needs KUBEBUILDER_ASSETS:
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test ./test/integration/
package integration_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

const operatorNamespace = "tokenwarden-system"

var (
	env    *testenv.Env
	mgr    manager.Manager
	issuer string
)

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) (func(), error) {
		ctx, cancel := context.WithCancel(context.Background())
		if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
			cancel()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			return nil, err
		}
		issuer = "http://" + ln.Addr().String()
		o := testenv.OperatorOptions(operatorNamespace, issuer)
		o.Token.Listener = ln
		o.Token.TokenPathAliases = []string{"/token", "/api/v4/connect/token",
			"/{namespace}/{name}/token;user=usergrid", compatConnectPath + ";claimable=*", compatManagementPath + ";claimable=*"}
		o.Token.DefaultClient = &types.NamespacedName{Namespace: "legacy", Name: "default-app"}
		o.Token.RefreshGrace = 2 * time.Second
		mgr, err = operator.NewManager(ctx, e.Config, o)
		if err != nil {
			cancel()
			return nil, err
		}
		stop := testenv.RunManager(ctx, cancel, mgr)
		// Wait until the keys exist and the server answers.
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get(issuer + "/.well-known/jwks.json")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("token server did not become ready")
			}
			time.Sleep(100 * time.Millisecond)
		}
		return stop, nil
	})
}

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond)
}

// fixture creates objects in a fresh namespace and waits until they are Ready.
type fixture struct {
	t  testing.TB
	ns string
}

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, ns: env.Namespace(t)}
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if obj.GetNamespace() == "" {
		obj.SetNamespace(f.ns)
	}
	if err := env.Client.Create(context.Background(), obj); err != nil {
		f.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// client creates an OAuthClient and returns its client_id and secret once
// Ready, after the token server's cache has seen them.
func (f *fixture) client(name string, spec v1alpha1.OAuthClientSpec) (id, secret string) {
	f.t.Helper()
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: spec}
	f.create(c)
	f.waitReady(c)
	var s corev1.Secret
	eventually(f.t, func() error {
		return mgr.GetClient().Get(context.Background(), client.ObjectKey{Namespace: c.Namespace, Name: c.Status.SecretName}, &s)
	}).Should(gomega.Succeed())
	eventually(f.t, func() error {
		var cached v1alpha1.OAuthClient
		if err := mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(c), &cached); err != nil {
			return err
		}
		if cached.Status.ClientID == "" {
			return fmt.Errorf("cache has no client id yet")
		}
		return nil
	}).Should(gomega.Succeed())
	return c.Status.ClientID, string(s.Data["client_secret"])
}

// user creates an OAuthUser and returns it once Ready and cached.
func (f *fixture) user(name string, spec v1alpha1.OAuthUserSpec) (*v1alpha1.OAuthUser, string) {
	f.t.Helper()
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: spec}
	f.create(u)
	f.waitReady(u)
	var pw string
	if u.Status.PasswordSource == v1alpha1.PasswordGenerated {
		var s corev1.Secret
		eventually(f.t, func() error {
			return mgr.GetClient().Get(context.Background(), client.ObjectKey{Namespace: u.Namespace, Name: u.Status.SecretName}, &s)
		}).Should(gomega.Succeed())
		pw = string(s.Data["password"])
	}
	eventually(f.t, func() string {
		var cached v1alpha1.OAuthUser
		_ = mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(u), &cached)
		return cached.Status.Username
	}).ShouldNot(gomega.BeEmpty())
	return u, pw
}

func (f *fixture) waitReady(obj client.Object) {
	f.t.Helper()
	eventually(f.t, func() bool {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false
		}
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *v1alpha1.OAuthClient:
			conds = o.Status.Conditions
		case *v1alpha1.OAuthUser:
			conds = o.Status.Conditions
		}
		return meta.IsStatusConditionTrue(conds, v1alpha1.ConditionReady)
	}).Should(gomega.BeTrue(), "%s Ready", obj.GetName())
}

// response is a raw HTTP answer.
type response = testhttp.Response

// form encodes key, value, ... as a form body.
func form(kv ...string) string { return testhttp.Form(kv...) }

const formType = testhttp.FormType

// startServer starts another token server over the suite's cluster state
// (the same cache, API server and signing keys), e.g. a second replica or one
// with a fake clock, and returns its base URL. It stops with the test.
func startServer(t testing.TB, o tokenserver.Options) string {
	t.Helper()
	return startServerReading(t, o, mgr.GetAPIReader())
}

// startServerReading is startServer with the reader its stores use for
// reads from the API server.
func startServerReading(t testing.TB, o tokenserver.Options, live client.Reader) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ks, err := tokenserver.NewInformerKeys(ctx, mgr.GetCache(), operatorNamespace, logr.Discard())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if o.Issuer == "" {
		o.Issuer = issuer
	}
	o.Listener = ln
	stores := kubestore.New(kubestore.Options{Cache: mgr.GetClient(), Live: live, Writer: mgr.GetClient(), Namespace: operatorNamespace})
	srv, err := tokenserver.New(withDefaults(o), stores, ks)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Start(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, func() int {
		resp, err := http.Get(base + "/.well-known/jwks.json")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}).Should(gomega.Equal(http.StatusOK))
	return base
}

// withDefaults fills the fields a test left zero from the server's defaults
// (a test names only what it changes).
func withDefaults(o tokenserver.Options) tokenserver.Options {
	return servertest.FillDefaults(o, tokenserver.DefaultOptions())
}

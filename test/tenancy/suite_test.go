// Package tenancy_test is the tenant-isolation suite (issue 11): the
// operator's manager and token server run against a real API server
// (envtest), and each attack of the issue is made over real HTTP by a
// ServiceAccount holding only the namespaced rights a tenant gets, while the
// API server enforces RBAC for it. Victims are set up with the admin client.
// It needs KUBEBUILDER_ASSETS:
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test ./test/tenancy/
package tenancy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

const (
	operatorNamespace = "tokenwarden-system"
	// hashConcurrency is the suite's --hash-concurrency: small, so that a
	// sign-in burst fills it.
	hashConcurrency = 2
)

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
		// What the previous release left behind exists before this release
		// first starts, as in an upgrade.
		if err := seedPreviousRelease(ctx, e.Client); err != nil {
			cancel()
			return nil, fmt.Errorf("seed the previous release's state: %w", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			return nil, err
		}
		issuer = "http://" + ln.Addr().String()
		o := testenv.OperatorOptions(operatorNamespace, issuer)
		o.Token.Listener = ln
		o.Token.HashConcurrency = hashConcurrency
		o.Token.TokenPathAliases = []string{"/{namespace}/{name}/token", legacyPath + ";claimable=" + legacyPathNamespace}
		o.Token.MaxFamiliesPerUser, o.Token.MaxRevocationsPerClient = maxFamiliesPerUser, maxRevocationsPerClient
		if mgr, err = operator.NewManager(ctx, e.Config, o); err != nil {
			cancel()
			return nil, err
		}
		stop := testenv.RunManager(ctx, cancel, mgr)
		if err := waitServing(60 * time.Second); err != nil {
			stop()
			return nil, err
		}
		return stop, nil
	})
}

// waitServing waits until the token server has signing keys and answers.
func waitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(issuer + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("token server did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond)
}

func consistently(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Consistently(f).WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond)
}

// world is one test's cluster: the attacker's namespace evil with its
// tenant ServiceAccount, and the victims' namespaces teama and teamb. Names
// carry a generated suffix so that every test has its own.
type world struct {
	t            *testing.T
	evil         string
	teamA, teamB string
	// attacker acts as the tenant ServiceAccount of evil: RBAC applies.
	attacker client.Client
}

// newWorld creates the namespaces and the attacker's identity.
func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, evil: namespace(t, "evil-", nil), teamA: namespace(t, "teama-", nil), teamB: namespace(t, "teamb-", nil)}
	w.attacker = tenantClient(t, w.evil)
	return w
}

// namespace creates a namespace with a generated name.
func namespace(t *testing.T, prefix string, annotations map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Annotations: annotations}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// tenantRules are the rights a tenant gets in its own namespace, and nothing
// more: its OAuthClients, OAuthUsers, OAuthResources and Secrets.
var tenantRules = []rbacv1.PolicyRule{
	{
		APIGroups: []string{"oauth.tokenwarden.dev"},
		Resources: []string{"oauthclients", "oauthusers", "oauthresources"},
		Verbs:     []string{"create", "get", "list", "watch", "update", "patch", "delete"},
	},
	{
		APIGroups: []string{""},
		Resources: []string{"secrets"},
		Verbs:     []string{"create", "get", "list", "watch", "update", "patch", "delete"},
	},
}

// tenantClient creates the ServiceAccount tenant in ns with tenantRules in ns
// and returns a client authenticated as it by a bound token (TokenRequest).
func tenantClient(t *testing.T, ns string) client.Client {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns}}
	create(t, env.Client, sa)
	grantTenant(t, ns, ns)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The authorizer sees the new RoleBinding through its own informer.
	eventually(t, func() error {
		return c.List(ctx, &v1alpha1.OAuthClientList{}, client.InNamespace(ns))
	}).Should(gomega.Succeed(), "the tenant's rights in %s take effect", ns)
	return c
}

// grantTenant gives the tenant ServiceAccount of saNamespace the tenant
// rights in ns.
func grantTenant(t *testing.T, saNamespace, ns string) {
	t.Helper()
	create(t, env.Client, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns}, Rules: tenantRules})
	create(t, env.Client, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tenant"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: saNamespace}},
	})
}

// create creates obj with c (the admin or the attacker) and fails the test
// when the API server refuses.
func create(t testing.TB, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), err)
	}
}

// Package rbac_test runs the manager the way a cluster runs it: as the
// ServiceAccount of the rendered deployment manifests (config/), holding
// exactly the rights their Roles and ClusterRoles grant, against an API
// server that enforces RBAC (envtest authorizes non-admin users with RBAC).
// Each layout (the default install, the split token server, the
// namespace-scoped install) drives the controllers' and the token server's
// core paths through its manager and then checks two things from every
// request the manager sent:
//
//   - the API server refused none (a permission missing from config/ fails
//     the test, even where the manager would quietly retry), and
//   - every granted rule was used at least once, unless unexercised names
//     the code path that needs it and why this test cannot reach it (an
//     unneeded permission fails the test).
//
// It needs KUBEBUILDER_ASSETS and kubectl or the Go module proxy (to render
// with kustomize):
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test ./test/rbac/
package rbac_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond)
}

// renderedNamespace is the namespace config/default installs into.
const renderedNamespace = "tokenwarden-system"

// kustomizeFallback runs kustomize from the Go module proxy when kubectl is
// not installed (the version config/config_test.go renders with).
const kustomizeFallback = "sigs.k8s.io/kustomize/kustomize/v5@v5.8.2"

// manifests is what a layout's render holds that this suite uses.
type manifests struct {
	serviceAccounts     []corev1.ServiceAccount
	roles               []rbacv1.Role
	clusterRoles        []rbacv1.ClusterRole
	roleBindings        []rbacv1.RoleBinding
	clusterRoleBindings []rbacv1.ClusterRoleBinding
	deployments         []appsv1.Deployment
}

// render renders config/<dir> as a user would install it.
func render(t *testing.T, dir string) *manifests {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "config", dir)
	var cmd *exec.Cmd
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command(kubectl, "kustomize", path)
	} else {
		cmd = exec.Command("go", "run", kustomizeFallback, "build", path)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return decode(t, stdout.Bytes())
}

func decode(t *testing.T, data []byte) *manifests {
	t.Helper()
	m := &manifests{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return m
		} else if err != nil {
			t.Fatalf("decode rendered YAML: %v", err)
		}
		var err error
		switch obj["kind"] {
		case "ServiceAccount":
			m.serviceAccounts, err = appendDecoded(m.serviceAccounts, obj)
		case "Role":
			m.roles, err = appendDecoded(m.roles, obj)
		case "ClusterRole":
			m.clusterRoles, err = appendDecoded(m.clusterRoles, obj)
		case "RoleBinding":
			m.roleBindings, err = appendDecoded(m.roleBindings, obj)
		case "ClusterRoleBinding":
			m.clusterRoleBindings, err = appendDecoded(m.clusterRoleBindings, obj)
		case "Deployment":
			m.deployments, err = appendDecoded(m.deployments, obj)
		}
		if err != nil {
			t.Fatalf("decode %s: %v", obj["kind"], err)
		}
	}
}

func appendDecoded[T any](list []T, obj map[string]any) ([]T, error) {
	var v T
	err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &v, true)
	return append(list, v), err
}

// install creates the layout's ServiceAccounts, Roles, ClusterRoles and
// bindings as rendered, with two changes so that the suite's layouts can
// share one API server: objects of the rendered operator namespace go to
// opNS, and cluster-scoped names (and the references to them) get the
// suffix "-"+opNS. The rules and subjects are the rendered ones.
func install(t *testing.T, m *manifests, opNS string) {
	t.Helper()
	ns := func(s string) string {
		if s == renderedNamespace {
			return opNS
		}
		return s
	}
	cluster := func(s string) string { return s + "-" + opNS }
	subjects := func(ss []rbacv1.Subject) []rbacv1.Subject {
		out := make([]rbacv1.Subject, len(ss))
		for i, s := range ss {
			s.Namespace = ns(s.Namespace)
			out[i] = s
		}
		return out
	}
	var objs []client.Object
	for _, sa := range m.serviceAccounts {
		objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa.Name, Namespace: ns(sa.Namespace)}})
	}
	for _, r := range m.clusterRoles {
		objs = append(objs, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: cluster(r.Name)}, Rules: r.Rules})
	}
	for _, r := range m.roles {
		objs = append(objs, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: ns(r.Namespace)}, Rules: r.Rules})
	}
	for _, b := range m.clusterRoleBindings {
		ref := b.RoleRef
		ref.Name = cluster(ref.Name)
		objs = append(objs, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cluster(b.Name)}, RoleRef: ref, Subjects: subjects(b.Subjects)})
	}
	for _, b := range m.roleBindings {
		ref := b.RoleRef
		if ref.Kind == "ClusterRole" {
			ref.Name = cluster(ref.Name)
		}
		objs = append(objs, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: ns(b.Namespace)}, RoleRef: ref, Subjects: subjects(b.Subjects)})
	}
	ctx := context.Background()
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("install %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
}

// createNamespace creates a namespace of this name.
func createNamespace(t *testing.T, name string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// serviceAccountConfig is a rest.Config authenticated as the ServiceAccount
// ns/name by a bound token, as a pod's is; every request it sends is
// recorded.
func serviceAccountConfig(t *testing.T, ns, name string) (*rest.Config, *recorder) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request for %s/%s: %v", ns, name, err)
	}
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	rec := newRecorder()
	cfg.WrapTransport = transport.WrapperFunc(rec.wrap)
	t.Cleanup(func() {
		if refused := rec.refused(); t.Failed() && len(refused) > 0 {
			t.Logf("the API server refused %s/%s:\n%s", ns, name, strings.Join(refused, "\n"))
		}
	})
	// The authorizer sees new bindings through its own informer: wait
	// until the ServiceAccount may do what a manager does first.
	probeCfg := rest.AnonymousClientConfig(env.Config)
	probeCfg.BearerToken = tr.Status.Token
	probe, err := kubernetes.NewForConfig(probeCfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		_, err := probe.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{Limit: 1})
		return err
	}).Should(gomega.Succeed(), "the rights of %s/%s take effect", ns, name)
	return cfg, rec
}

// waitServing waits until the token server at base answers its JWKS.
func waitServing(t *testing.T, base string) {
	t.Helper()
	eventually(t, func() (int, error) {
		resp, err := http.Get(base + "/.well-known/jwks.json")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}).WithTimeout(60*time.Second).Should(gomega.Equal(http.StatusOK), "token server at %s serves", base)
}

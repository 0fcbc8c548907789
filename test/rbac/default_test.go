package rbac_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

// startManager starts a manager authenticated by cfg with the operator's
// test options, leader election on (its Lease is part of what config/ must
// allow), and the --mode and --watch-namespaces of the rendered container
// args. It returns the token server's base URL, empty when the mode serves
// none.
func startManager(t *testing.T, cfg *rest.Config, opNS string, args []string) (string, manager.Manager) {
	t.Helper()
	o := testenv.OperatorOptions(opNS, "")
	o.LeaderElection = true
	o.CollectInterval = time.Second
	if v, ok := argValue(args, "mode"); ok {
		o.Mode = operator.Mode(v)
	}
	if v, ok := argValue(args, "watch-namespaces"); ok {
		o.WatchNamespaces = strings.Split(v, ",")
	}
	base := ""
	if o.Mode != operator.ModeControllers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base = "http://" + ln.Addr().String()
		o.Token.Listener = ln
	}
	// Tokens name the token server's URL as their issuer, in every layout.
	o.IssuerURL = issuerOf(base)
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := operator.NewManager(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatalf("new manager: %v", err)
	}
	t.Cleanup(testenv.RunManager(ctx, cancel, mgr))
	return base, mgr
}

// issuerOf is the issuer for a manager serving at base; a controllers-only
// manager names the fixed test issuer, as a Deployment's --issuer-url does.
func issuerOf(base string) string {
	if base == "" {
		return "http://tokenwarden.test"
	}
	return base
}

// argValue finds --name=value in a container's args.
func argValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// containerArgs are the args of the Deployment's first container.
func containerArgs(t *testing.T, m *manifests, deployment string) (sa string, args []string) {
	t.Helper()
	for _, d := range m.deployments {
		if d.Name == deployment {
			return d.Spec.Template.Spec.ServiceAccountName, d.Spec.Template.Spec.Containers[0].Args
		}
	}
	t.Fatalf("no Deployment %s rendered", deployment)
	return "", nil
}

// TestDefaultInstallRBAC runs the default install (config/default: one
// Deployment running controllers and token server) as its ServiceAccount
// with exactly its rendered RBAC.
func TestDefaultInstallRBAC(t *testing.T) {
	const opNS = "tw-rbac-default"
	createNamespace(t, opNS)
	m := render(t, "default")
	if len(m.deployments) != 1 {
		t.Fatalf("config/default renders %d Deployments, want 1", len(m.deployments))
	}
	sa, args := containerArgs(t, m, "tokenwarden-controller-manager")
	install(t, m, opNS)
	cfg, rec := serviceAccountConfig(t, opNS, sa)
	base, mgr := startManager(t, cfg, opNS, args)
	waitServing(t, base)

	tenantNS := opNS + "-tenant"
	createNamespace(t, tenantNS)
	tn := setUpTenant(t, tenantNS, mgr.GetClient())
	useTokenServer(t, base, tn)
	rotateKeys(t, base, opNS)
	disableUser(t, base, tn)

	checkRules(t, "config/default", rec, grantsOf(m, sa, opNS))
}

package rbac_test

import (
	"context"
	"net"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

// startManager starts a manager authenticated by cfg with the operator's
// test options changed by opts, with leader election on (its Lease is part
// of what config/ must allow), and returns its token server's base URL
// (empty when it does not serve).
func startManager(t *testing.T, cfg *rest.Config, opNS string, opts func(*operator.Options)) (string, manager.Manager) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	o := testenv.OperatorOptions(opNS, base)
	o.Token.Listener = ln
	o.LeaderElection = true
	o.CollectInterval = time.Second
	if opts != nil {
		opts(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := operator.NewManager(ctx, cfg, o)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("new manager: %v", err)
	}
	t.Cleanup(testenv.RunManager(ctx, cancel, mgr))
	return base, mgr
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
	sa := m.deployments[0].Spec.Template.Spec.ServiceAccountName
	install(t, m, opNS)
	cfg, rec := serviceAccountConfig(t, opNS, sa)
	base, mgr := startManager(t, cfg, opNS, nil)
	waitServing(t, base)

	tenantNS := opNS + "-tenant"
	createNamespace(t, tenantNS)
	tn := setUpTenant(t, tenantNS, mgr.GetClient())
	useTokenServer(t, base, tn)
	rotateKeys(t, base, opNS)

	checkRules(t, "config/default", rec, grantsOf(m, sa, opNS))
}

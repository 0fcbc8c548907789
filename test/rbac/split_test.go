package rbac_test

import (
	"testing"
)

// TestSplitInstallRBAC runs the split layout (config/overlays/split): the
// controllers' Deployment (--mode=controllers) and the token server's
// (--mode=token-server), each as its own ServiceAccount with exactly its
// rendered RBAC. Tokens are asked of the token-server process only; the
// controllers process serves none but issues the workload token Secrets.
func TestSplitInstallRBAC(t *testing.T) {
	const opNS = "tw-rbac-split"
	createNamespace(t, opNS)
	m := render(t, "overlays/split")
	if len(m.deployments) != 2 {
		t.Fatalf("config/overlays/split renders %d Deployments, want 2", len(m.deployments))
	}
	ctrlSA, ctrlArgs := containerArgs(t, m, "tokenwarden-controller-manager")
	tsSA, tsArgs := containerArgs(t, m, "tokenwarden-token-server")
	if ctrlSA == tsSA {
		t.Fatalf("both Deployments run as %s", ctrlSA)
	}
	for _, c := range []struct {
		args []string
		want string
	}{{ctrlArgs, "controllers"}, {tsArgs, "token-server"}} {
		if v, _ := argValue(c.args, "mode"); v != c.want {
			t.Fatalf("args %v: --mode=%q, want %q", c.args, v, c.want)
		}
	}
	install(t, m, opNS)
	ctrlCfg, ctrlRec := serviceAccountConfig(t, opNS, ctrlSA)
	tsCfg, tsRec := serviceAccountConfig(t, opNS, tsSA)
	if base, _ := startManager(t, ctrlCfg, opNS, ctrlArgs); base != "" {
		t.Fatalf("the controllers process serves tokens at %s", base)
	}
	base, tokenServer := startManager(t, tsCfg, opNS, tsArgs)
	waitServing(t, base)

	tenantNS := opNS + "-tenant"
	createNamespace(t, tenantNS)
	tn := setUpTenant(t, tenantNS, tokenServer.GetClient())
	useTokenServer(t, base, tn)
	rotateKeys(t, base, opNS)
	disableUser(t, base, tn)

	checkRules(t, "config/overlays/split controllers", ctrlRec, grantsOf(m, ctrlSA, opNS))
	checkRules(t, "config/overlays/split token server", tsRec, grantsOf(m, tsSA, opNS))
}

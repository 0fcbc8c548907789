package rbac_test

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// grant is one verb on one resource a rendered rule gives a ServiceAccount,
// in scope (a namespace; "" for a ClusterRoleBinding: everywhere).
type grant struct {
	verb, group, resource, scope string
	// served is true for a grant in a namespace the manager serves (a
	// RoleBinding outside the operator's namespace).
	served bool
}

func (g grant) key() string {
	group := g.group
	if group == "" {
		group = "core"
	}
	return g.verb + " " + group + "/" + g.resource
}

// grantsOf lists what the rendered manifests grant the ServiceAccount
// renderedNamespace/sa, with the operator namespace moved to opNS as
// install does.
func grantsOf(m *manifests, sa, opNS string) []grant {
	ns := func(s string) string {
		if s == renderedNamespace {
			return opNS
		}
		return s
	}
	bound := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == renderedNamespace
		})
	}
	rulesOf := func(kind, name, namespace string) []rbacv1.PolicyRule {
		if kind == "ClusterRole" {
			if i := slices.IndexFunc(m.clusterRoles, func(r rbacv1.ClusterRole) bool { return r.Name == name }); i >= 0 {
				return m.clusterRoles[i].Rules
			}
			return nil
		}
		if i := slices.IndexFunc(m.roles, func(r rbacv1.Role) bool { return r.Name == name && r.Namespace == namespace }); i >= 0 {
			return m.roles[i].Rules
		}
		return nil
	}
	var out []grant
	add := func(rules []rbacv1.PolicyRule, scope string) {
		for _, r := range rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out = append(out, grant{verb: v, group: g, resource: res, scope: scope})
					}
				}
			}
		}
	}
	for _, b := range m.clusterRoleBindings {
		if bound(b.Subjects) {
			add(rulesOf(b.RoleRef.Kind, b.RoleRef.Name, ""), "")
		}
	}
	for _, b := range m.roleBindings {
		if bound(b.Subjects) {
			add(rulesOf(b.RoleRef.Kind, b.RoleRef.Name, b.Namespace), ns(b.Namespace))
		}
	}
	for i := range out {
		out[i].served = out[i].scope != "" && out[i].scope != opNS
	}
	return out
}

// unexercised are the granted rights the suite's runs do not reach, each
// with the code path that needs it. Everything else granted must be used by
// a run, or the test fails: the right is not needed, or the run misses a
// path and must be extended.
var unexercised = map[string]string{
	"delete core/secrets in a served namespace": "the previous release kept refresh families in the client's namespace: kubestore's migration (legacy.go, move) and OAuthUserReconciler.revokeFamilies delete them there; a fresh cluster has none",
	"delete core/configmaps":                    "controllers.Collector removes a revocation ConfigMap once the access token it revokes has expired (collector.go, Revocations.DeleteExpired); the shortest access-token lifetime is 1m",
	"patch events.k8s.io/events":                "client-go's event recorder patches an Event's series when the same Event repeats (seen in the operator namespace's signing-key Events, not in every served namespace)",
	"patch core/events":                         "client-go's event recorder patches a repeated Event; leader election records LeaderElection Events through the core API",
	"list core/configmaps":                      "the generated Role of the operator's namespace lets the namespaced layout (../overlays/namespaced) cache ConfigMaps there; where the ClusterRole grants ConfigMaps cluster-wide (a client's JWK Set for private_key_jwt), the cache lists them through that instead",
	"watch core/configmaps":                     "as list core/configmaps",
	"create authentication.k8s.io/tokenreviews": "ServiceAccount client authentication in the token server (kubestore's TokenReviewer); the controllers process of the split layout keeps the generated ClusterRole, which holds it for the all-in-one install",
}

// checkRules fails t for every request the API server refused and for every
// granted right no run used that unexercised does not explain.
func checkRules(t *testing.T, what string, rec *recorder, grants []grant) {
	t.Helper()
	for _, f := range rec.refused() {
		t.Errorf("%s: the API server refused %s: a permission is missing from config/", what, f)
	}
	seen := map[grant]bool{}
	var unused []string
	for _, g := range grants {
		if seen[g] {
			continue
		}
		seen[g] = true
		if rec.used(g.verb, g.group, g.resource, g.scope) {
			continue
		}
		if _, ok := unexercised[g.key()]; ok {
			continue
		}
		if _, ok := unexercised[g.key()+" in a served namespace"]; ok && g.served {
			continue
		}
		unused = append(unused, fmt.Sprintf("%s (scope %q)", g.key(), g.scope))
	}
	slices.Sort(unused)
	for _, u := range unused {
		t.Errorf("%s: config/ grants %s but no run used it: remove it, or name the code path needing it in unexercised", what, u)
	}
	if t.Failed() {
		t.Logf("%s: calls the API server allowed:\n%v", what, rec.calls())
	}
}

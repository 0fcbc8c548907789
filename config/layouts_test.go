package config_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The two other layouts, rendered from their example overlays: the split
// token server (config/overlays/split) and the namespace-scoped install
// (config/overlays/namespaced). test/rbac runs both against an API server
// enforcing their RBAC; these checks are what a reviewer reads off the
// render.

// view is r with only deployment d, so that the single-Deployment checks
// of config/default apply to each Deployment of a layout.
func view(r *rendered, d appsv1.Deployment) *rendered {
	v := *r
	v.deployments = []appsv1.Deployment{d}
	return &v
}

func deploymentNamed(r *rendered, name string) *appsv1.Deployment {
	for i := range r.deployments {
		if r.deployments[i].Name == name {
			return &r.deployments[i]
		}
	}
	return nil
}

// boundRules are the rules bound to the ServiceAccount ns/sa, cluster-wide
// (ClusterRoleBindings) and per namespace (RoleBindings).
func boundRules(r *rendered, ns, sa string) (cluster []rbacv1.PolicyRule, namespaced map[string][]rbacv1.PolicyRule) {
	namespaced = map[string][]rbacv1.PolicyRule{}
	is := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns
		})
	}
	clusterRole := func(name string) []rbacv1.PolicyRule {
		i := slices.IndexFunc(r.clusterRoles, func(c rbacv1.ClusterRole) bool { return c.Name == name })
		if i < 0 {
			return nil
		}
		return r.clusterRoles[i].Rules
	}
	for _, b := range r.clusterRoleBindings {
		if is(b.Subjects) {
			cluster = append(cluster, clusterRole(b.RoleRef.Name)...)
		}
	}
	for _, b := range r.roleBindings {
		if !is(b.Subjects) {
			continue
		}
		if b.RoleRef.Kind == "ClusterRole" {
			namespaced[b.Namespace] = append(namespaced[b.Namespace], clusterRole(b.RoleRef.Name)...)
		} else if i := slices.IndexFunc(r.roles, func(ro rbacv1.Role) bool { return ro.Name == b.RoleRef.Name && ro.Namespace == b.Namespace }); i >= 0 {
			namespaced[b.Namespace] = append(namespaced[b.Namespace], r.roles[i].Rules...)
		}
	}
	return cluster, namespaced
}

// checkNoEscalation: no wildcard, escalation verb or RBAC-object access in
// any rendered role.
func checkNoEscalation(r *rendered) problems {
	var p problems
	var rules []rbacv1.PolicyRule
	for _, c := range r.clusterRoles {
		rules = append(rules, c.Rules...)
	}
	for _, ro := range r.roles {
		rules = append(rules, ro.Rules...)
	}
	for _, rule := range rules {
		for _, field := range [][]string{rule.Verbs, rule.Resources, rule.APIGroups} {
			if slices.ContainsFunc(field, func(s string) bool { return strings.Contains(s, "*") }) {
				p.add("wildcard in rule %v", rule)
			}
		}
		if slices.ContainsFunc(rule.Verbs, func(v string) bool { return v == "escalate" || v == "bind" || v == "impersonate" }) ||
			slices.Contains(rule.APIGroups, rbacv1.GroupName) {
			p.add("rule %v escalates or touches RBAC objects", rule)
		}
	}
	return p
}

// checkSplit: two Deployments that do not select each other's pods, in
// their modes, under their own ServiceAccounts; the token Service sends to
// the token server only; the token server's rights are reads cluster-wide
// and writes in the operator's namespace only, on Secrets and ConfigMaps.
func checkSplit(r *rendered) problems {
	var p problems
	ctrl, ts := deploymentNamed(r, "tokenwarden-controller-manager"), deploymentNamed(r, "tokenwarden-token-server")
	if ctrl == nil || ts == nil || len(r.deployments) != 2 {
		p.add("want the Deployments tokenwarden-controller-manager and tokenwarden-token-server, found %d", len(r.deployments))
		return p
	}
	p = append(p, checkDeployment(view(r, *ctrl))...)
	for _, s := range checkDeployment(view(r, *ts)) {
		if !strings.Contains(s, "--leader-elect") { // the token server never campaigns
			p = append(p, s)
		}
	}
	for _, pair := range [][2]*appsv1.Deployment{{ctrl, ts}, {ts, ctrl}} {
		if selects(pair[0].Spec.Selector, pair[1].Spec.Template.Labels) {
			p.add("Deployment %s selects the pods of %s", pair[0].Name, pair[1].Name)
		}
	}
	for d, mode := range map[*appsv1.Deployment]string{ctrl: "controllers", ts: "token-server"} {
		if v, _ := flagValue(d.Spec.Template.Spec.Containers[0].Args, "mode"); v != mode {
			p.add("Deployment %s runs --mode=%q, want %s", d.Name, v, mode)
		}
	}
	ctrlSA, tsSA := ctrl.Spec.Template.Spec.ServiceAccountName, ts.Spec.Template.Spec.ServiceAccountName
	if ctrlSA == tsSA {
		p.add("both Deployments run as %s", ctrlSA)
	}
	for _, s := range r.services {
		if s.Name == "tokenwarden-token-server" && (!mapSelects(s.Spec.Selector, ts.Spec.Template.Labels) || mapSelects(s.Spec.Selector, ctrl.Spec.Template.Labels)) {
			p.add("the token Service selector %v must select the token-server pods only", s.Spec.Selector)
		}
	}
	if !slices.ContainsFunc(r.pdbs, func(b policyv1.PodDisruptionBudget) bool { return selects(b.Spec.Selector, ts.Spec.Template.Labels) }) {
		p.add("no PodDisruptionBudget selects the token-server pods")
	}
	cluster, namespaced := boundRules(r, ts.Namespace, tsSA)
	for _, rule := range cluster {
		if isTokenReview(rule) {
			continue // ServiceAccount client authentication
		}
		if slices.ContainsFunc(rule.Verbs, func(v string) bool { return v != "list" && v != "watch" }) {
			p.add("the token server's ClusterRole grants %v beyond list/watch", rule)
		}
	}
	for ns, rules := range namespaced {
		if ns != ts.Namespace {
			p.add("the token server holds rights in namespace %s", ns)
		}
		for _, rule := range rules {
			if !slices.Equal(rule.APIGroups, []string{""}) || slices.ContainsFunc(rule.Resources, func(s string) bool { return s != "secrets" && s != "configmaps" }) {
				p.add("the token server's Role grants %v beyond its Secrets and ConfigMaps", rule)
			}
		}
	}
	return append(p, checkNoEscalation(r)...)
}

// checkNamespaced: the manager holds nothing cluster-wide but Namespaces;
// its rights outside its own namespace are RoleBindings in exactly the
// namespaces of --watch-namespaces.
func checkNamespaced(r *rendered) problems {
	var p problems
	d, c := operator(r, &p)
	if c == nil {
		return p
	}
	p = append(p, checkDeployment(r)...)
	watch, ok := flagValue(c.Args, "watch-namespaces")
	if !ok || watch == "" {
		p.add("the manager has no --watch-namespaces")
	}
	cluster, namespaced := boundRules(r, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	for _, rule := range cluster {
		if !slices.Equal(rule.Resources, []string{"namespaces"}) && !isTokenReview(rule) {
			p.add("cluster-wide rule %v: only Namespaces (and creating TokenReviews) may be granted cluster-wide", rule)
		}
	}
	var bound []string
	for ns := range namespaced {
		if ns != d.Namespace {
			bound = append(bound, ns)
		}
	}
	served := strings.Split(watch, ",")
	slices.Sort(bound)
	slices.Sort(served)
	if !slices.Equal(bound, served) {
		p.add("RoleBindings grant the manager rights in %v, --watch-namespaces serves %v", bound, served)
	}
	return append(p, checkNoEscalation(r)...)
}

func TestSplitLayout(t *testing.T) {
	report(t, checkSplit(parse(t, kustomize(t, "overlays/split"))))
}

func TestNamespacedLayout(t *testing.T) {
	report(t, checkNamespaced(parse(t, kustomize(t, "overlays/namespaced"))))
}

// TestLayoutChecksCatchBrokenManifests: each layout check notices a break.
func TestLayoutChecksCatchBrokenManifests(t *testing.T) {
	split, namespaced := kustomize(t, "overlays/split"), kustomize(t, "overlays/namespaced")
	cases := []struct {
		name   string
		data   []byte
		check  func(*rendered) problems
		mutate func(*rendered)
		want   string
	}{
		{"split: selectors overlap", split, checkSplit, func(r *rendered) {
			deploymentNamed(r, "tokenwarden-controller-manager").Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "token-server"}}
		}, "selects the pods of"},
		{"split: token server writes cluster-wide", split, checkSplit, func(r *rendered) {
			for i := range r.clusterRoles {
				if r.clusterRoles[i].Name == "tokenwarden-token-server" {
					r.clusterRoles[i].Rules[2].Verbs = append(r.clusterRoles[i].Rules[2].Verbs, "create")
				}
			}
		}, "beyond list/watch"},
		{"split: one ServiceAccount", split, checkSplit, func(r *rendered) {
			deploymentNamed(r, "tokenwarden-token-server").Spec.Template.Spec.ServiceAccountName = "tokenwarden-controller-manager"
		}, "both Deployments run as"},
		{"split: token Service on every pod", split, checkSplit, func(r *rendered) {
			for i := range r.services {
				if r.services[i].Name == "tokenwarden-token-server" {
					r.services[i].Spec.Selector = map[string]string{"app.kubernetes.io/name": "tokenwarden"}
				}
			}
		}, "token-server pods only"},
		{"namespaced: Secrets cluster-wide", namespaced, checkNamespaced, func(r *rendered) {
			r.clusterRoles[0].Rules = append(r.clusterRoles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}})
		}, "only Namespaces"},
		{"namespaced: a binding the flag does not serve", namespaced, checkNamespaced, func(r *rendered) {
			for i := range r.roleBindings {
				if r.roleBindings[i].Namespace == "team-b" {
					r.roleBindings[i].Namespace = "team-z"
				}
			}
		}, "--watch-namespaces serves"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := parse(t, tc.data)
			tc.mutate(r)
			if p := tc.check(r); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("broken render not caught: want a problem containing %q, got %q", tc.want, p)
			}
		})
	}
}

// isTokenReview is the rule ServiceAccount client authentication needs:
// create TokenReviews, which are cluster-scoped and stored nowhere.
func isTokenReview(rule rbacv1.PolicyRule) bool {
	return slices.Equal(rule.APIGroups, []string{"authentication.k8s.io"}) && slices.Equal(rule.Resources, []string{"tokenreviews"}) &&
		slices.Equal(rule.Verbs, []string{"create"})
}

// Package config_test renders the deployment manifests with `kubectl
// kustomize` and checks what a platform team relies on: the Deployment's
// replicas, probes, resources and restricted security context; Services and
// the PodDisruptionBudget selecting the pods; least-privilege RBAC; and the
// optional components (ServiceMonitor, NetworkPolicy) present only when
// enabled.
//
// Every check returns the problems it finds instead of failing the test
// directly, so TestChecksCatchBrokenManifests can break a correct render in
// one place per check and prove that each check notices.
package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	// The components enabled by the all-components render.
	componentPrometheus    = "../components/prometheus"
	componentNetworkPolicy = "../components/network-policy"
)

// wantCRDs are the CustomResourceDefinitions config/default installs.
var wantCRDs = []string{"oauthclients.oauth.tokenwarden.dev", "oauthresources.oauth.tokenwarden.dev", "oauthusers.oauth.tokenwarden.dev"}

// designSecretVerbs is everything the design needs on Secrets (see
// config/rbac/kustomization.yaml for what and why). role.yaml is generated
// from markers; a marker asking for more (deletecollection, a wildcard) fails
// here and must be argued for.
var designSecretVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// ---------------------------------------------------------------- rendering

// renders caches kubectl output per directory for the test binary's life.
var renders = map[string][]byte{}

// kustomizeFallback is the kustomize the test runs through the Go module
// proxy when kubectl is not installed, so `make test` needs nothing else.
const kustomizeFallback = "sigs.k8s.io/kustomize/kustomize/v5@v5.8.2"

// kustomize runs `kubectl kustomize dir`, or kustomize itself when kubectl is
// missing.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	if out, ok := renders[dir]; ok {
		return out
	}
	var cmd *exec.Cmd
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command(kubectl, "kustomize", dir)
	} else {
		cmd = exec.Command("go", "run", kustomizeFallback, "build", dir)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	renders[dir] = stdout.Bytes()
	return stdout.Bytes()
}

// renderDefault renders config/default as shipped.
func renderDefault(t *testing.T) []byte {
	t.Helper()
	return kustomize(t, "default")
}

// renderAllComponents renders config/default with both optional components
// enabled the way its comments say: a copy of config/ whose
// default/kustomization.yaml gains a components list.
func renderAllComponents(t *testing.T) []byte {
	t.Helper()
	if out, ok := renders["all-components"]; ok {
		return out
	}
	tmp := t.TempDir()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(tmp, path), 0o755)
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, path), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy config/: %v", err)
	}
	kfile := filepath.Join(tmp, "default", "kustomization.yaml")
	k, err := os.ReadFile(kfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(k), "\n") {
		if strings.HasPrefix(line, "components:") {
			t.Fatalf("config/default/kustomization.yaml enables components; they must stay off by default (commented out)")
		}
	}
	k = append(k, []byte(fmt.Sprintf("\ncomponents:\n  - %s\n  - %s\n", componentPrometheus, componentNetworkPolicy))...)
	if err := os.WriteFile(kfile, k, 0o644); err != nil {
		t.Fatal(err)
	}
	out := kustomize(t, filepath.Join(tmp, "default"))
	renders["all-components"] = out
	return out
}

// rendered is one render, decoded. Typed objects for what the checks look
// into; CRDs and ServiceMonitors stay unstructured (their Go types are not
// direct dependencies). all keeps every object as rendered.
type rendered struct {
	all                 []*unstructured.Unstructured
	namespaces          []corev1.Namespace
	crds                []*unstructured.Unstructured
	serviceAccounts     []corev1.ServiceAccount
	deployments         []appsv1.Deployment
	services            []corev1.Service
	pdbs                []policyv1.PodDisruptionBudget
	netpols             []networkingv1.NetworkPolicy
	serviceMonitors     []*unstructured.Unstructured
	roles               []rbacv1.Role
	clusterRoles        []rbacv1.ClusterRole
	roleBindings        []rbacv1.RoleBinding
	clusterRoleBindings []rbacv1.ClusterRoleBinding
	unexpected          []string
}

// decodeAs converts strictly: an unknown or misspelled field is an error,
// not a silently dropped setting.
func decodeAs[T any](u *unstructured.Unstructured) (T, error) {
	var v T
	err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true)
	if err != nil {
		err = fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return v, err
}

func parse(t *testing.T, data []byte) *rendered {
	t.Helper()
	r := &rendered{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode rendered YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		r.all = append(r.all, u)
		var err error
		switch gk := u.GroupVersionKind().GroupKind().String(); gk {
		case "Namespace":
			var v corev1.Namespace
			v, err = decodeAs[corev1.Namespace](u)
			r.namespaces = append(r.namespaces, v)
		case "CustomResourceDefinition.apiextensions.k8s.io":
			r.crds = append(r.crds, u)
		case "ServiceAccount":
			var v corev1.ServiceAccount
			v, err = decodeAs[corev1.ServiceAccount](u)
			r.serviceAccounts = append(r.serviceAccounts, v)
		case "Deployment.apps":
			var v appsv1.Deployment
			v, err = decodeAs[appsv1.Deployment](u)
			r.deployments = append(r.deployments, v)
		case "Service":
			var v corev1.Service
			v, err = decodeAs[corev1.Service](u)
			r.services = append(r.services, v)
		case "PodDisruptionBudget.policy":
			var v policyv1.PodDisruptionBudget
			v, err = decodeAs[policyv1.PodDisruptionBudget](u)
			r.pdbs = append(r.pdbs, v)
		case "NetworkPolicy.networking.k8s.io":
			var v networkingv1.NetworkPolicy
			v, err = decodeAs[networkingv1.NetworkPolicy](u)
			r.netpols = append(r.netpols, v)
		case "ServiceMonitor.monitoring.coreos.com":
			r.serviceMonitors = append(r.serviceMonitors, u)
		case "Role.rbac.authorization.k8s.io":
			var v rbacv1.Role
			v, err = decodeAs[rbacv1.Role](u)
			r.roles = append(r.roles, v)
		case "ClusterRole.rbac.authorization.k8s.io":
			var v rbacv1.ClusterRole
			v, err = decodeAs[rbacv1.ClusterRole](u)
			r.clusterRoles = append(r.clusterRoles, v)
		case "RoleBinding.rbac.authorization.k8s.io":
			var v rbacv1.RoleBinding
			v, err = decodeAs[rbacv1.RoleBinding](u)
			r.roleBindings = append(r.roleBindings, v)
		case "ClusterRoleBinding.rbac.authorization.k8s.io":
			var v rbacv1.ClusterRoleBinding
			v, err = decodeAs[rbacv1.ClusterRoleBinding](u)
			r.clusterRoleBindings = append(r.clusterRoleBindings, v)
		default:
			r.unexpected = append(r.unexpected, gk+" "+u.GetName())
		}
		if err != nil {
			t.Fatalf("rendered object does not decode strictly: %v", err)
		}
	}
	return r
}

// ---------------------------------------------------------------- checks

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// operator is the single Deployment and its manager container.
func operator(r *rendered, p *problems) (*appsv1.Deployment, *corev1.Container) {
	if len(r.deployments) != 1 {
		p.add("want exactly 1 Deployment, found %d", len(r.deployments))
		return nil, nil
	}
	d := &r.deployments[0]
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return d, c
		}
	}
	p.add("Deployment %s has no container named manager", d.Name)
	return d, nil
}

// flagValue finds --name=value, -name=value or --name value in args; the
// last one wins, as with the flag package.
func flagValue(args []string, name string) (value string, found bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			value, found = v, true
		} else if a == name {
			value, found = "", true
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				value = args[i+1]
			}
		}
	}
	return value, found
}

// listenPort is the port the binary listens on for a --*-bind-address flag,
// the main.go default when the flag is absent.
func listenPort(p *problems, c *corev1.Container, flag string, def int32) int32 {
	addr, ok := flagValue(c.Args, flag)
	if !ok {
		return def
	}
	_, port, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		p.add("--%s=%q is not host:port", flag, addr)
		return -1
	}
	return int32(n)
}

func containerPortNamed(c *corev1.Container, name string) *corev1.ContainerPort {
	for i := range c.Ports {
		if c.Ports[i].Name == name {
			return &c.Ports[i]
		}
	}
	return nil
}

// resolvePort finds the container port a Service targetPort, probe port or
// NetworkPolicy port refers to (by name or number).
func resolvePort(c *corev1.Container, port intstr.IntOrString) *corev1.ContainerPort {
	if port.Type == intstr.String {
		return containerPortNamed(c, port.StrVal)
	}
	for i := range c.Ports {
		if c.Ports[i].ContainerPort == port.IntVal {
			return &c.Ports[i]
		}
	}
	return nil
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false // an empty selector selects everything: never what we want
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(podLabels))
}

func mapSelects(sel, lbls map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(lbls))
}

// checkKinds: the render holds what config/default promises, and the
// optional components' objects only when they are enabled.
func checkKinds(r *rendered, components bool) problems {
	var p problems
	for _, u := range r.unexpected {
		p.add("unexpected object %s (add a check for it)", u)
	}
	for kind, n := range map[string]int{
		"Namespace": len(r.namespaces), "ServiceAccount": len(r.serviceAccounts), "Deployment": len(r.deployments),
		"PodDisruptionBudget": len(r.pdbs), "ClusterRole": len(r.clusterRoles), "ClusterRoleBinding": len(r.clusterRoleBindings),
		"Role": len(r.roles), "RoleBinding": len(r.roleBindings),
	} {
		if n == 0 {
			p.add("no %s rendered", kind)
		}
	}
	want := 0
	if components {
		want = 1
	}
	if len(r.netpols) != want {
		p.add("want %d NetworkPolicy (components enabled: %v), found %d", want, components, len(r.netpols))
	}
	if len(r.serviceMonitors) != want {
		p.add("want %d ServiceMonitor (components enabled: %v), found %d", want, components, len(r.serviceMonitors))
	}
	return p
}

// clusterScoped kinds carry no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}

// checkNamespace: one Namespace enforcing the restricted Pod Security
// Standard, and every namespaced object in it.
func checkNamespace(r *rendered) problems {
	var p problems
	if len(r.namespaces) != 1 {
		p.add("want exactly 1 Namespace, found %d", len(r.namespaces))
		return p
	}
	ns := r.namespaces[0]
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		p.add("Namespace %s: pod-security.kubernetes.io/enforce is %q, want restricted", ns.Name, got)
	}
	for _, u := range r.all {
		if clusterScoped[u.GetKind()] {
			continue
		}
		if u.GetNamespace() != ns.Name {
			p.add("%s %s is in namespace %q, want %q", u.GetKind(), u.GetName(), u.GetNamespace(), ns.Name)
		}
	}
	return p
}

func checkCRDs(r *rendered) problems {
	var p problems
	var got []string
	for _, u := range r.crds {
		got = append(got, u.GetName())
	}
	slices.Sort(got)
	if !slices.Equal(got, wantCRDs) {
		p.add("CRDs: got %v, want %v", got, wantCRDs)
	}
	return p
}

// checkDeployment: replicas, leader election, POD_NAMESPACE, image, ports
// matching the bind flags, probes, resources and the restricted security
// context.
func checkDeployment(r *rendered) problems {
	var p problems
	d, c := operator(r, &p)
	if c == nil {
		return p
	}
	if d.Spec.Replicas == nil {
		p.add("Deployment replicas: want 2, got unset (1)")
	} else if *d.Spec.Replicas != 2 {
		p.add("Deployment replicas: want 2, got %d", *d.Spec.Replicas)
	}
	if !selects(d.Spec.Selector, d.Spec.Template.Labels) {
		p.add("Deployment selector %v does not select its pod template labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if v, ok := flagValue(c.Args, "leader-elect"); !ok || (v != "" && v != "true") {
		p.add("manager args %v: want --leader-elect=true", c.Args)
	}
	var podNS bool
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNS = true
		}
	}
	if !podNS {
		p.add("manager env: want POD_NAMESPACE from the downward API (fieldRef metadata.namespace)")
	}
	if strings.TrimSpace(c.Image) == "" || strings.ContainsAny(c.Image, " \t") {
		p.add("manager image %q is not set", c.Image)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	if sa == "" || !slices.ContainsFunc(r.serviceAccounts, func(s corev1.ServiceAccount) bool { return s.Name == sa && s.Namespace == d.Namespace }) {
		p.add("Deployment serviceAccountName %q is not a rendered ServiceAccount in %s", sa, d.Namespace)
	}

	// Named container ports match what the binary listens on.
	for _, fp := range []struct {
		name, flag string
		def        int32
	}{{"token", "token-bind-address", 8443}, {"metrics", "metrics-bind-address", 8080}, {"probes", "health-probe-bind-address", 8081}} {
		want := listenPort(&p, c, fp.flag, fp.def)
		cp := containerPortNamed(c, fp.name)
		if cp == nil {
			p.add("manager has no container port named %q", fp.name)
		} else if cp.ContainerPort != want {
			p.add("container port %q is %d but --%s listens on %d", fp.name, cp.ContainerPort, fp.flag, want)
		}
	}

	// Probes: HTTP on a named port that exists, the health-probe port.
	probePort := listenPort(&p, c, "health-probe-bind-address", 8081)
	for _, pr := range []struct {
		kind, path string
		probe      *corev1.Probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			p.add("manager %s: want an httpGet probe", pr.kind)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			p.add("manager %s path %q, want %q", pr.kind, g.Path, pr.path)
		}
		if g.Port.Type != intstr.String {
			p.add("manager %s port %s: want a named port", pr.kind, g.Port.String())
		}
		if cp := resolvePort(c, g.Port); cp == nil {
			p.add("manager %s port %s is not a container port", pr.kind, g.Port.String())
		} else if cp.ContainerPort != probePort {
			p.add("manager %s port %s is %d, not the health-probe port %d", pr.kind, g.Port.String(), cp.ContainerPort, probePort)
		}
	}

	// Requests and limits for CPU and memory, requests within limits.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		lim, hasLim := c.Resources.Limits[res]
		switch {
		case !hasReq || req.IsZero():
			p.add("manager resources: no %s request", res)
		case !hasLim || lim.IsZero():
			p.add("manager resources: no %s limit", res)
		case req.Cmp(lim) > 0:
			p.add("manager resources: %s request %s above limit %s", res, req.String(), lim.String())
		}
	}

	// Restricted security context: pod level for what applies to the pod,
	// container level for what only a container can say.
	ps := d.Spec.Template.Spec
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		p.add("pod uses host namespaces")
	}
	psc := ps.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		p.add("pod securityContext: want runAsNonRoot: true")
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		p.add("pod securityContext: runAsUser 0")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p.add("pod securityContext: want seccompProfile RuntimeDefault")
	}
	for _, ct := range slices.Concat(ps.InitContainers, ps.Containers) {
		sc := ct.SecurityContext
		if sc == nil {
			p.add("container %s: no securityContext", ct.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p.add("container %s: want allowPrivilegeEscalation: false", ct.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			p.add("container %s: want readOnlyRootFilesystem: true", ct.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			p.add("container %s: privileged", ct.Name)
		}
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			p.add("container %s: runAsNonRoot: false overrides the pod", ct.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			p.add("container %s: runAsUser 0", ct.Name)
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			p.add("container %s: seccompProfile %s overrides the pod's RuntimeDefault", ct.Name, sc.SeccompProfile.Type)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			p.add("container %s: want capabilities drop ALL", ct.Name)
		} else if len(sc.Capabilities.Add) > 0 {
			p.add("container %s: adds capabilities %v", ct.Name, sc.Capabilities.Add)
		}
	}
	return p
}

// serviceFor is the Service with a port targeting the named container port.
func serviceFor(r *rendered, c *corev1.Container, portName string) *corev1.Service {
	for i := range r.services {
		for _, sp := range r.services[i].Spec.Ports {
			if cp := resolvePort(c, sp.TargetPort); cp != nil && cp.Name == portName {
				return &r.services[i]
			}
		}
	}
	return nil
}

// checkServices: a token-server and a metrics Service; every Service selects
// the pods and targets container ports that exist.
func checkServices(r *rendered) problems {
	var p problems
	d, c := operator(r, &p)
	if c == nil {
		return p
	}
	for _, s := range r.services {
		if !mapSelects(s.Spec.Selector, d.Spec.Template.Labels) {
			p.add("Service %s selector %v does not select the pods %v", s.Name, s.Spec.Selector, d.Spec.Template.Labels)
		}
		if len(s.Spec.Ports) == 0 {
			p.add("Service %s has no ports", s.Name)
		}
		for _, sp := range s.Spec.Ports {
			tp := sp.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(sp.Port) // targetPort defaults to port
			}
			if resolvePort(c, tp) == nil {
				p.add("Service %s port %s targets %s, not a container port", s.Name, sp.Name, tp.String())
			}
		}
	}
	for _, name := range []string{"token", "metrics"} {
		if serviceFor(r, c, name) == nil {
			p.add("no Service targets the container port %q", name)
		}
	}
	return p
}

func checkPDB(r *rendered) problems {
	var p problems
	d, _ := operator(r, &p)
	if d == nil {
		return p
	}
	if len(r.pdbs) != 1 {
		p.add("want exactly 1 PodDisruptionBudget, found %d", len(r.pdbs))
		return p
	}
	pdb := r.pdbs[0]
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.Type != intstr.Int || pdb.Spec.MinAvailable.IntVal != 1 {
		p.add("PodDisruptionBudget %s: want minAvailable 1, got %s", pdb.Name, pdb.Spec.MinAvailable)
	}
	if pdb.Spec.MaxUnavailable != nil {
		p.add("PodDisruptionBudget %s sets maxUnavailable beside minAvailable", pdb.Name)
	}
	if !selects(pdb.Spec.Selector, d.Spec.Template.Labels) {
		p.add("PodDisruptionBudget %s selector %v does not select the pods %v", pdb.Name, pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	return p
}

// readRoleYAML is the generated ClusterRole, straight from the file. The
// file also holds the generated Role of the operator's namespace (markers
// with namespace=system), which may grant ConfigMaps and nothing else: no
// ConfigMap outside that namespace is ever written, and Secrets are checked
// against the ClusterRole.
func readRoleYAML(t *testing.T) rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := parse(t, b)
	if len(r.clusterRoles) != 1 || len(r.roles) > 1 || len(r.all) != len(r.clusterRoles)+len(r.roles) {
		t.Fatalf("config/rbac/role.yaml: want exactly one ClusterRole and at most one Role, found %d objects", len(r.all))
	}
	for _, rule := range r.clusterRoles[0].Rules {
		// Cluster-wide, the manager only reads a client's own JWK Set
		// (private_key_jwt) and labels it into its cache; it writes
		// ConfigMaps in its own namespace only.
		if slices.Contains(rule.Resources, "configmaps") && !slices.Equal(rule.Verbs, []string{"get", "list", "patch", "watch"}) {
			t.Fatalf("config/rbac/role.yaml grants ConfigMaps cluster-wide %v; only get, list, patch and watch (a client's JWK Set)", rule.Verbs)
		}
	}
	for _, ro := range r.roles {
		for _, rule := range ro.Rules {
			if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"configmaps"}) {
				t.Fatalf("config/rbac/role.yaml: the Role of the operator's namespace grants %v; only ConfigMaps belong there", rule)
			}
		}
	}
	return r.clusterRoles[0]
}

// secretVerbs is what rules grant on core Secrets.
func secretVerbs(rules []rbacv1.PolicyRule) []string {
	var verbs []string
	for _, rule := range rules {
		if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "secrets") {
			verbs = append(verbs, rule.Verbs...)
		}
	}
	slices.Sort(verbs)
	return slices.Compact(verbs)
}

// checkRBAC: no wildcards, no privilege-escalation verbs, no RBAC-object
// access, Secrets no further than role.yaml (itself no further than the
// design), bindings to the operator's ServiceAccount only, and what leader
// election needs in the operator's namespace.
func checkRBAC(r *rendered, roleYAML rbacv1.ClusterRole) problems {
	var p problems
	d, _ := operator(r, &p)
	if d == nil {
		return p
	}
	for _, v := range secretVerbs(roleYAML.Rules) {
		if !slices.Contains(designSecretVerbs, v) {
			p.add("config/rbac/role.yaml grants %q on secrets, beyond the design's %v", v, designSecretVerbs)
		}
	}
	allowedSecret := secretVerbs(roleYAML.Rules)

	type named struct {
		what  string
		rules []rbacv1.PolicyRule
	}
	var all []named
	for _, cr := range r.clusterRoles {
		if cr.AggregationRule != nil {
			p.add("ClusterRole %s aggregates other roles", cr.Name)
		}
		all = append(all, named{"ClusterRole " + cr.Name, cr.Rules})
	}
	for _, ro := range r.roles {
		all = append(all, named{"Role " + ro.Namespace + "/" + ro.Name, ro.Rules})
	}
	for _, n := range all {
		for _, rule := range n.rules {
			for _, field := range [][]string{rule.Verbs, rule.Resources, rule.APIGroups, rule.NonResourceURLs, rule.ResourceNames} {
				if slices.ContainsFunc(field, func(s string) bool { return strings.Contains(s, "*") }) {
					p.add("%s: wildcard in rule %v", n.what, rule)
				}
			}
			for _, v := range []string{"escalate", "bind", "impersonate"} {
				if slices.Contains(rule.Verbs, v) {
					p.add("%s grants %q", n.what, v)
				}
			}
			if slices.Contains(rule.APIGroups, rbacv1.GroupName) {
				p.add("%s grants access to RBAC objects: %v", n.what, rule)
			}
			if len(rule.NonResourceURLs) > 0 {
				p.add("%s grants non-resource URLs %v", n.what, rule.NonResourceURLs)
			}
		}
		for _, v := range secretVerbs(n.rules) {
			if !slices.Contains(allowedSecret, v) {
				p.add("%s grants %q on secrets, beyond config/rbac/role.yaml (%v)", n.what, v, allowedSecret)
			}
		}
	}

	// Bindings: to rendered roles, for the operator's ServiceAccount only.
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}
	checkSubjects := func(what string, subjects []rbacv1.Subject) {
		if len(subjects) != 1 || subjects[0].Kind != sa.Kind || subjects[0].Name != sa.Name || subjects[0].Namespace != sa.Namespace {
			p.add("%s binds %v, want only the operator's ServiceAccount %s/%s", what, subjects, sa.Namespace, sa.Name)
		}
	}
	for _, b := range r.clusterRoleBindings {
		if b.RoleRef.Kind != "ClusterRole" || !slices.ContainsFunc(r.clusterRoles, func(cr rbacv1.ClusterRole) bool { return cr.Name == b.RoleRef.Name }) {
			p.add("ClusterRoleBinding %s refers to %s %s, not a rendered ClusterRole", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		checkSubjects("ClusterRoleBinding "+b.Name, b.Subjects)
	}
	var leaderRules []rbacv1.PolicyRule
	for _, b := range r.roleBindings {
		i := slices.IndexFunc(r.roles, func(ro rbacv1.Role) bool { return ro.Name == b.RoleRef.Name && ro.Namespace == b.Namespace })
		if b.RoleRef.Kind != "Role" || i < 0 {
			p.add("RoleBinding %s refers to %s %s, not a rendered Role in %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, b.Namespace)
		} else if b.Namespace == d.Namespace {
			leaderRules = append(leaderRules, r.roles[i].Rules...)
		}
		checkSubjects("RoleBinding "+b.Name, b.Subjects)
	}
	// The generated ClusterRole is bound cluster-wide.
	if !slices.ContainsFunc(r.clusterRoleBindings, func(b rbacv1.ClusterRoleBinding) bool {
		return slices.ContainsFunc(r.clusterRoles, func(cr rbacv1.ClusterRole) bool {
			return cr.Name == b.RoleRef.Name && reflect.DeepEqual(cr.Rules, roleYAML.Rules)
		})
	}) {
		p.add("no ClusterRoleBinding binds a ClusterRole with the rules of config/rbac/role.yaml")
	}
	// Leader election: the Lease, and Events through the core API (what
	// controller-runtime's leader election records with).
	grants := func(group, resource string, verbs ...string) bool {
		for _, v := range verbs {
			if !slices.ContainsFunc(leaderRules, func(rule rbacv1.PolicyRule) bool {
				return slices.Contains(rule.APIGroups, group) && slices.Contains(rule.Resources, resource) && slices.Contains(rule.Verbs, v)
			}) {
				return false
			}
		}
		return true
	}
	if !grants("coordination.k8s.io", "leases", "get", "create", "update") {
		p.add("no Role bound in %s grants leases get/create/update for leader election", d.Namespace)
	}
	if !grants("", "events", "create", "patch") {
		p.add("no Role bound in %s grants core events create/patch for leader-election Events", d.Namespace)
	}
	return p
}

// checkNetworkPolicy: the token port open to all, metrics only from a
// selected namespace, every port a container port, egress only to named ports
// (API server, DNS).
func checkNetworkPolicy(r *rendered) problems {
	var p problems
	d, c := operator(r, &p)
	if c == nil {
		return p
	}
	for _, np := range r.netpols {
		if !selects(&np.Spec.PodSelector, d.Spec.Template.Labels) {
			p.add("NetworkPolicy %s podSelector does not select the pods", np.Name)
		}
		for _, pt := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			if !slices.Contains(np.Spec.PolicyTypes, pt) {
				p.add("NetworkPolicy %s: policyTypes lacks %s", np.Name, pt)
			}
		}
		openToAll := map[string]bool{}
		fromNamespaces := map[string]bool{}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				p.add("NetworkPolicy %s: an ingress rule admits every port", np.Name)
			}
			for _, port := range rule.Ports {
				if port.Port == nil {
					p.add("NetworkPolicy %s: an ingress rule admits every port", np.Name)
					continue
				}
				cp := resolvePort(c, *port.Port)
				if cp == nil {
					p.add("NetworkPolicy %s admits port %s, not a container port", np.Name, port.Port.String())
					continue
				}
				if len(rule.From) == 0 {
					openToAll[cp.Name] = true
				}
				for _, peer := range rule.From {
					if peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels)+len(peer.NamespaceSelector.MatchExpressions) > 0 && peer.IPBlock == nil {
						fromNamespaces[cp.Name] = true
					}
				}
			}
		}
		if !openToAll["token"] {
			p.add("NetworkPolicy %s does not admit the token port from anywhere", np.Name)
		}
		if openToAll["metrics"] || !fromNamespaces["metrics"] {
			p.add("NetworkPolicy %s: metrics must be admitted from selected namespaces only", np.Name)
		}
		egressPorts := map[string]bool{}
		for _, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				p.add("NetworkPolicy %s: an egress rule allows every port", np.Name)
			}
			for _, port := range rule.Ports {
				if port.Port == nil {
					p.add("NetworkPolicy %s: an egress rule allows every port", np.Name)
					continue
				}
				proto := corev1.ProtocolTCP
				if port.Protocol != nil {
					proto = *port.Protocol
				}
				egressPorts[port.Port.String()+"/"+string(proto)] = true
			}
		}
		for _, want := range []string{"53/UDP", "53/TCP"} {
			if !egressPorts[want] {
				p.add("NetworkPolicy %s: egress lacks DNS %s", np.Name, want)
			}
		}
		if !egressPorts["443/TCP"] && !egressPorts["6443/TCP"] {
			p.add("NetworkPolicy %s: egress lacks the API server (443 or 6443/TCP)", np.Name)
		}
	}
	return p
}

// checkServiceMonitor: it selects the metrics Service (not the token one) in
// its namespace and scrapes one of that Service's ports.
func checkServiceMonitor(r *rendered) problems {
	var p problems
	_, c := operator(r, &p)
	if c == nil {
		return p
	}
	metrics, token := serviceFor(r, c, "metrics"), serviceFor(r, c, "token")
	if metrics == nil {
		p.add("no metrics Service for the ServiceMonitor")
		return p
	}
	for _, sm := range r.serviceMonitors {
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		exprs, _, _ := unstructured.NestedSlice(sm.Object, "spec", "selector", "matchExpressions")
		if len(exprs) > 0 {
			p.add("ServiceMonitor %s: matchExpressions not checked; use matchLabels", sm.GetName())
		}
		if !mapSelects(sel, metrics.Labels) {
			p.add("ServiceMonitor %s selector %v does not select the metrics Service %s (labels %v)", sm.GetName(), sel, metrics.Name, metrics.Labels)
		}
		if token != nil && token != metrics && mapSelects(sel, token.Labels) {
			p.add("ServiceMonitor %s selector %v also selects the token Service %s", sm.GetName(), sel, token.Name)
		}
		names, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
		if sm.GetNamespace() != metrics.Namespace && !slices.Contains(names, metrics.Namespace) {
			p.add("ServiceMonitor %s in %q does not look in the metrics Service's namespace %q", sm.GetName(), sm.GetNamespace(), metrics.Namespace)
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) == 0 {
			p.add("ServiceMonitor %s has no endpoints", sm.GetName())
		}
		for _, e := range endpoints {
			em, _ := e.(map[string]any)
			port, _ := em["port"].(string)
			if !slices.ContainsFunc(metrics.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == port }) {
				p.add("ServiceMonitor %s endpoint port %q is not a port of Service %s", sm.GetName(), port, metrics.Name)
			}
			if path, ok := em["path"].(string); ok && path != "/metrics" {
				p.add("ServiceMonitor %s endpoint path %q, want /metrics", sm.GetName(), path)
			}
		}
	}
	return p
}

// checkAll runs every check on one render.
func checkAll(r *rendered, roleYAML rbacv1.ClusterRole, components bool) problems {
	return slices.Concat(
		checkKinds(r, components), checkNamespace(r), checkCRDs(r), checkDeployment(r), checkServices(r),
		checkPDB(r), checkRBAC(r, roleYAML), checkNetworkPolicy(r), checkServiceMonitor(r),
	)
}

// checkSameBase: enabling the components adds their objects and changes
// nothing else.
func checkSameBase(def, all *rendered) problems {
	var p problems
	key := func(u *unstructured.Unstructured) string {
		return u.GroupVersionKind().String() + " " + u.GetNamespace() + "/" + u.GetName()
	}
	base := map[string]*unstructured.Unstructured{}
	for _, u := range def.all {
		base[key(u)] = u
	}
	seen := 0
	for _, u := range all.all {
		switch u.GetKind() {
		case "NetworkPolicy", "ServiceMonitor":
			continue
		}
		b, ok := base[key(u)]
		if !ok {
			p.add("components render adds %s", key(u))
			continue
		}
		seen++
		if !reflect.DeepEqual(b.Object, u.Object) {
			p.add("components render changes %s", key(u))
		}
	}
	if seen != len(def.all) {
		p.add("components render drops %d objects of config/default", len(def.all)-seen)
	}
	return p
}

// ---------------------------------------------------------------- tests

func report(t *testing.T, p problems) {
	t.Helper()
	for _, s := range p {
		t.Error(s)
	}
}

func TestDefault(t *testing.T) {
	r := parse(t, renderDefault(t))
	report(t, checkAll(r, readRoleYAML(t), false))
}

func TestAllComponents(t *testing.T) {
	all := parse(t, renderAllComponents(t))
	report(t, checkAll(all, readRoleYAML(t), true))
	report(t, checkSameBase(parse(t, renderDefault(t)), all))
}

// TestChecksCatchBrokenManifests breaks a correct render in one place per
// case and expects the checks to say so: no check passes vacuously.
func TestChecksCatchBrokenManifests(t *testing.T) {
	roleYAML := readRoleYAML(t)
	defaultYAML, allYAML := renderDefault(t), renderAllComponents(t)
	if p := checkAll(parse(t, allYAML), roleYAML, true); len(p) > 0 {
		t.Fatalf("the unbroken render already has problems: %v", p)
	}
	mgr := func(r *rendered) *corev1.Container { return &r.deployments[0].Spec.Template.Spec.Containers[0] }
	pod := func(r *rendered) *corev1.PodSpec { return &r.deployments[0].Spec.Template.Spec }
	ptr := func(b bool) *bool { return &b }
	svc := func(r *rendered, port string) *corev1.Service {
		_, c := operator(r, new(problems))
		return serviceFor(r, c, port)
	}
	tcp := corev1.ProtocolTCP
	cases := []struct {
		name       string
		components bool // break the all-components render
		roleYAML   func(*rbacv1.ClusterRole)
		mutate     func(r *rendered)
		want       string
	}{
		{name: "unexpected kind", mutate: func(r *rendered) { r.unexpected = append(r.unexpected, "ConfigMap x") }, want: "unexpected object"},
		{name: "NetworkPolicy enabled by default", mutate: func(r *rendered) { r.netpols = append(r.netpols, networkingv1.NetworkPolicy{}) }, want: "NetworkPolicy (components enabled: false)"},
		{name: "ServiceMonitor enabled by default", mutate: func(r *rendered) { r.serviceMonitors = append(r.serviceMonitors, &unstructured.Unstructured{}) }, want: "ServiceMonitor (components enabled: false)"},
		{name: "NetworkPolicy missing", components: true, mutate: func(r *rendered) { r.netpols = nil }, want: "NetworkPolicy (components enabled: true)"},
		{name: "ServiceMonitor missing", components: true, mutate: func(r *rendered) { r.serviceMonitors = nil }, want: "ServiceMonitor (components enabled: true)"},
		{name: "no PDB", mutate: func(r *rendered) { r.pdbs = nil }, want: "no PodDisruptionBudget"},
		{name: "namespace not restricted", mutate: func(r *rendered) { delete(r.namespaces[0].Labels, "pod-security.kubernetes.io/enforce") }, want: "enforce"},
		{name: "object in another namespace", mutate: func(r *rendered) {
			r.all[slices.IndexFunc(r.all, func(u *unstructured.Unstructured) bool { return u.GetKind() == "Service" })].SetNamespace("default")
		}, want: `in namespace "default"`},
		{name: "CRD missing", mutate: func(r *rendered) { r.crds = r.crds[1:] }, want: "CRDs:"},
		{name: "replicas 1", mutate: func(r *rendered) { one := int32(1); r.deployments[0].Spec.Replicas = &one }, want: "replicas: want 2"},
		{name: "no leader election", mutate: func(r *rendered) {
			mgr(r).Args = slices.DeleteFunc(mgr(r).Args, func(a string) bool { return strings.Contains(a, "leader-elect") })
		}, want: "--leader-elect"},
		{name: "leader election off", mutate: func(r *rendered) { mgr(r).Args = append(mgr(r).Args, "--leader-elect=false") }, want: "--leader-elect"},
		{name: "no POD_NAMESPACE", mutate: func(r *rendered) { mgr(r).Env = nil }, want: "POD_NAMESPACE"},
		{name: "no image", mutate: func(r *rendered) { mgr(r).Image = "" }, want: "image"},
		{name: "unknown service account", mutate: func(r *rendered) { pod(r).ServiceAccountName = "default" }, want: "serviceAccountName"},
		{name: "selector misses pods", mutate: func(r *rendered) {
			r.deployments[0].Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}
		}, want: "Deployment selector"},
		{name: "token port off its flag", mutate: func(r *rendered) { mgr(r).Args = append(mgr(r).Args, "--token-bind-address=:9443") }, want: `container port "token"`},
		{name: "readiness path", mutate: func(r *rendered) { mgr(r).ReadinessProbe.HTTPGet.Path = "/healthz" }, want: "readinessProbe path"},
		{name: "liveness missing", mutate: func(r *rendered) { mgr(r).LivenessProbe = nil }, want: "livenessProbe"},
		{name: "probe on unknown port", mutate: func(r *rendered) { mgr(r).ReadinessProbe.HTTPGet.Port = intstr.FromString("health") }, want: "not a container port"},
		{name: "probe on numeric port", mutate: func(r *rendered) { mgr(r).LivenessProbe.HTTPGet.Port = intstr.FromInt32(8081) }, want: "want a named port"},
		{name: "probe on token port", mutate: func(r *rendered) { mgr(r).LivenessProbe.HTTPGet.Port = intstr.FromString("token") }, want: "not the health-probe port"},
		{name: "no memory limit", mutate: func(r *rendered) { delete(mgr(r).Resources.Limits, corev1.ResourceMemory) }, want: "no memory limit"},
		{name: "no cpu request", mutate: func(r *rendered) { delete(mgr(r).Resources.Requests, corev1.ResourceCPU) }, want: "no cpu request"},
		{name: "pod may run as root", mutate: func(r *rendered) { pod(r).SecurityContext.RunAsNonRoot = nil }, want: "runAsNonRoot: true"},
		{name: "no seccomp", mutate: func(r *rendered) { pod(r).SecurityContext.SeccompProfile = nil }, want: "seccompProfile RuntimeDefault"},
		{name: "container seccomp unconfined", mutate: func(r *rendered) {
			mgr(r).SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, want: "overrides the pod's RuntimeDefault"},
		{name: "privilege escalation", mutate: func(r *rendered) { mgr(r).SecurityContext.AllowPrivilegeEscalation = ptr(true) }, want: "allowPrivilegeEscalation"},
		{name: "writable root", mutate: func(r *rendered) { mgr(r).SecurityContext.ReadOnlyRootFilesystem = nil }, want: "readOnlyRootFilesystem"},
		{name: "capabilities kept", mutate: func(r *rendered) { mgr(r).SecurityContext.Capabilities.Drop = nil }, want: "drop ALL"},
		{name: "container runs as root", mutate: func(r *rendered) { mgr(r).SecurityContext.RunAsNonRoot = ptr(false) }, want: "runAsNonRoot: false"},
		{name: "host network", mutate: func(r *rendered) { pod(r).HostNetwork = true }, want: "host namespaces"},
		{name: "Service selects nothing", mutate: func(r *rendered) { svc(r, "token").Spec.Selector = map[string]string{"app": "other"} }, want: "does not select the pods"},
		{name: "Service targets a missing port", mutate: func(r *rendered) { svc(r, "metrics").Spec.Ports[0].TargetPort = intstr.FromString("http") }, want: "not a container port"},
		{name: "no token Service", mutate: func(r *rendered) {
			r.services = slices.DeleteFunc(r.services, func(s corev1.Service) bool { return s.Name == svc(r, "token").Name })
		}, want: `no Service targets the container port "token"`},
		{name: "PDB minAvailable 0", mutate: func(r *rendered) { z := intstr.FromInt32(0); r.pdbs[0].Spec.MinAvailable = &z }, want: "minAvailable 1"},
		{name: "PDB selects other pods", mutate: func(r *rendered) {
			r.pdbs[0].Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}, want: "PodDisruptionBudget"},
		{name: "wildcard verb", mutate: func(r *rendered) { r.clusterRoles[0].Rules[0].Verbs = []string{"*"} }, want: "wildcard"},
		{name: "wildcard resource", mutate: func(r *rendered) { r.roles[0].Rules[0].Resources = []string{"*"} }, want: "wildcard"},
		{name: "escalate", mutate: func(r *rendered) {
			r.clusterRoles[0].Rules = append(r.clusterRoles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"escalate"}})
		}, want: `grants "escalate"`},
		{name: "impersonate", mutate: func(r *rendered) {
			r.clusterRoles[0].Rules = append(r.clusterRoles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}})
		}, want: `grants "impersonate"`},
		{name: "secrets beyond role.yaml", mutate: func(r *rendered) {
			r.roles[0].Rules = append(r.roles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"deletecollection"}})
		}, want: "beyond config/rbac/role.yaml"},
		{name: "role.yaml beyond the design", roleYAML: func(cr *rbacv1.ClusterRole) {
			cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"deletecollection"}})
		}, want: "beyond the design"},
		{name: "binding to everyone", mutate: func(r *rendered) {
			r.clusterRoleBindings[0].Subjects = append(r.clusterRoleBindings[0].Subjects, rbacv1.Subject{Kind: "Group", Name: "system:authenticated"})
		}, want: "want only the operator's ServiceAccount"},
		{name: "binding to a missing role", mutate: func(r *rendered) { r.roleBindings[0].RoleRef.Name = "gone" }, want: "not a rendered Role"},
		{name: "leader election cannot record events", mutate: func(r *rendered) {
			for i := range r.roles {
				r.roles[i].Rules = slices.DeleteFunc(r.roles[i].Rules, func(rule rbacv1.PolicyRule) bool { return slices.Contains(rule.APIGroups, "") })
			}
		}, want: "core events"},
		{name: "NetworkPolicy closes the token port", components: true, mutate: func(r *rendered) {
			for i := range r.netpols[0].Spec.Ingress {
				if len(r.netpols[0].Spec.Ingress[i].From) == 0 {
					r.netpols[0].Spec.Ingress[i].From = []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
				}
			}
		}, want: "token port from anywhere"},
		{name: "NetworkPolicy opens metrics to all", components: true, mutate: func(r *rendered) {
			for i := range r.netpols[0].Spec.Ingress {
				r.netpols[0].Spec.Ingress[i].From = nil
			}
		}, want: "metrics must be admitted"},
		{name: "NetworkPolicy admits all ports", components: true, mutate: func(r *rendered) {
			r.netpols[0].Spec.Ingress = append(r.netpols[0].Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		}, want: "admits every port"},
		{name: "NetworkPolicy port not on the container", components: true, mutate: func(r *rendered) {
			p := intstr.FromString("http")
			r.netpols[0].Spec.Ingress[0].Ports[0].Port = &p
		}, want: "not a container port"},
		{name: "NetworkPolicy without DNS", components: true, mutate: func(r *rendered) {
			r.netpols[0].Spec.Egress = r.netpols[0].Spec.Egress[:1]
		}, want: "egress lacks DNS"},
		{name: "NetworkPolicy allows all egress", components: true, mutate: func(r *rendered) {
			r.netpols[0].Spec.Egress = append(r.netpols[0].Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
		}, want: "egress rule allows every port"},
		{name: "NetworkPolicy without the API server", components: true, mutate: func(r *rendered) {
			p := intstr.FromInt32(8443)
			r.netpols[0].Spec.Egress[0].Ports = []networkingv1.NetworkPolicyPort{{Port: &p, Protocol: &tcp}}
		}, want: "lacks the API server"},
		{name: "NetworkPolicy ingress only", components: true, mutate: func(r *rendered) {
			r.netpols[0].Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		}, want: "policyTypes lacks Egress"},
		{name: "NetworkPolicy selects other pods", components: true, mutate: func(r *rendered) {
			r.netpols[0].Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}, want: "podSelector"},
		{name: "ServiceMonitor selects the token Service", components: true, mutate: func(r *rendered) {
			_ = unstructured.SetNestedStringMap(r.serviceMonitors[0].Object, map[string]string{"app.kubernetes.io/name": "tokenwarden"}, "spec", "selector", "matchLabels")
		}, want: "also selects the token Service"},
		{name: "ServiceMonitor selects nothing", components: true, mutate: func(r *rendered) {
			_ = unstructured.SetNestedStringMap(r.serviceMonitors[0].Object, map[string]string{"app": "other"}, "spec", "selector", "matchLabels")
		}, want: "does not select the metrics Service"},
		{name: "ServiceMonitor scrapes a missing port", components: true, mutate: func(r *rendered) {
			_ = unstructured.SetNestedSlice(r.serviceMonitors[0].Object, []any{map[string]any{"port": "http"}}, "spec", "endpoints")
		}, want: "is not a port of Service"},
		{name: "ServiceMonitor in another namespace", components: true, mutate: func(r *rendered) {
			r.serviceMonitors[0].SetNamespace("monitoring")
		}, want: "does not look in the metrics Service's namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := defaultYAML
			if tc.components {
				data = allYAML
			}
			r := parse(t, data)
			role := readRoleYAML(t)
			if tc.roleYAML != nil {
				tc.roleYAML(&role)
			}
			if tc.mutate != nil {
				tc.mutate(r)
			}
			p := checkAll(r, role, tc.components)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("broken render not caught: want a problem containing %q, got %q", tc.want, p)
			}
		})
	}

	t.Run("components change the base", func(t *testing.T) {
		def, all := parse(t, defaultYAML), parse(t, allYAML)
		for _, u := range all.all {
			if u.GetKind() == "Deployment" {
				_ = unstructured.SetNestedField(u.Object, int64(1), "spec", "replicas")
			}
		}
		if p := checkSameBase(def, all); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, "changes") }) {
			t.Errorf("a changed Deployment in the components render was not caught: %q", p)
		}
	})
}

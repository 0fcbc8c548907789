package config_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The Helm chart (charts/tokenwarden) must render the objects config/default
// renders. The chart's templates are written by hand, so these tests are
// what carries a change in config/ (a kubebuilder RBAC marker, a probe, the
// security context) to the chart: the chart is rendered by a pinned Helm and
// compared object by object with the kustomize render.

// helmModule is the Helm the tests run through the Go module proxy, as
// kustomizeFallback is for kustomize: `make test` needs nothing installed,
// and helm stays out of go.mod. The first build takes minutes; later runs
// come from the Go build cache.
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

const (
	chartDir = "../charts/tokenwarden"
	// helmNamespace and helmRelease render the names of config/default.
	helmNamespace = "tokenwarden-system"
	helmRelease   = "tokenwarden"
)

// helmSameAsDefault are the values under which the chart renders exactly
// what config/default does: its image and issuer URL, and the Namespace.
var helmSameAsDefault = []string{
	"--set", "issuerURL=https://tokenwarden.example.com",
	"--set", "image.tag=dev",
	"--set", "createNamespace=true",
}

// helmTemplate runs `helm template` on the chart with the CRDs; the output
// is cached per argument list for the test binary's life.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	key := "helm " + strings.Join(args, " ")
	if out, ok := renders[key]; ok {
		return out, nil
	}
	home := t.TempDir() // Helm reads and writes nothing of the user's
	cmd := exec.Command("go", slices.Concat([]string{"run", helmModule, "template", helmRelease, chartDir,
		"--namespace", helmNamespace, "--include-crds"}, args)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	renders[key] = stdout.Bytes()
	return stdout.Bytes(), nil
}

func renderChart(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objectKey names a rendered object: group, kind, namespace and name.
func objectKey(u *unstructured.Unstructured) string {
	k := u.GroupVersionKind().GroupKind().String() + " "
	if ns := u.GetNamespace(); ns != "" {
		k += ns + "/"
	}
	return k + u.GetName()
}

// compareRenders reports every difference between the kustomize render and
// the chart's: an object only in one of them, any field of an object in both
// (RBAC rules, role references and subjects, the Deployment's pod and
// container security context, args, env, ports, probes and resources,
// Service and PodDisruptionBudget specs, CRD schemas: the whole object), and
// a label of the kustomize object the chart's lacks. Extra labels are
// allowed (Helm's instance, version and chart labels) and managed-by differs
// by design. The chart's CRDs are the generated files as they are, without
// kustomize's labels; TestHelmCRDsAreGenerated holds them to
// config/crd/bases byte for byte.
func compareRenders(kust, chart *rendered) problems {
	var p problems
	byKey := map[string]*unstructured.Unstructured{}
	for _, u := range chart.all {
		byKey[objectKey(u)] = u
	}
	seen := map[string]bool{}
	for _, k := range kust.all {
		key := objectKey(k)
		c, ok := byKey[key]
		if !ok {
			p.add("%s: only in config/default", key)
			continue
		}
		seen[key] = true
		kl, cl := k.GetLabels(), c.GetLabels()
		for name, v := range kl {
			if name == "app.kubernetes.io/managed-by" || k.GetKind() == "CustomResourceDefinition" {
				continue
			}
			if cl[name] != v {
				p.add("%s: label %s is %q in the chart, %q in config/default", key, name, cl[name], v)
			}
		}
		ko, co := k.DeepCopy(), c.DeepCopy()
		unstructured.RemoveNestedField(ko.Object, "metadata", "labels")
		unstructured.RemoveNestedField(co.Object, "metadata", "labels")
		diffFields(&p, key+": ", "", ko.Object, co.Object)
	}
	for _, c := range chart.all {
		if key := objectKey(c); !seen[key] {
			p.add("%s: only in the chart", key)
		}
	}
	return p
}

// diffFields adds one problem per path where a (config/default) and b (the
// chart) differ.
func diffFields(p *problems, prefix, path string, a, b any) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := slices.Concat(slices.Collect(maps.Keys(am)), slices.Collect(maps.Keys(bm)))
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			diffFields(p, prefix, strings.TrimPrefix(path+"."+k, "."), am[k], bm[k])
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			diffFields(p, prefix, fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		p.add("%s%s is %v in the chart, %v in config/default", prefix, path, b, a)
	}
}

// withoutNamespaces is r less its Namespace objects.
func withoutNamespaces(r *rendered) *rendered {
	v := *r
	v.all = slices.DeleteFunc(slices.Clone(r.all), func(u *unstructured.Unstructured) bool { return u.GetKind() == "Namespace" })
	v.namespaces = nil
	return &v
}

// TestHelmChart: with config/default's image, issuer URL and Namespace, the
// chart renders config/default's objects, and they pass its checks.
func TestHelmChart(t *testing.T) {
	chart := parse(t, renderChart(t, helmSameAsDefault...))
	report(t, compareRenders(parse(t, renderDefault(t)), chart))
	report(t, checkAll(chart, readRoleYAML(t), false))
}

// TestHelmChartDefaults: with nothing but issuerURL set, the chart renders
// config/default's objects but the Namespace (createNamespace is off, for
// `helm install --create-namespace`), on the image of the chart's
// appVersion. Without issuerURL it renders nothing.
func TestHelmChartDefaults(t *testing.T) {
	chart := parse(t, renderChart(t, "--set", "issuerURL=https://tokenwarden.example.com"))
	kust := withoutNamespaces(parse(t, renderDefault(t)))
	var p problems
	for _, s := range compareRenders(kust, chart) {
		if !strings.Contains(s, "containers[0].image ") {
			p = append(p, s)
		}
	}
	report(t, p)
	chartYAML, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	appVersion := regexp.MustCompile(`(?m)^appVersion: "([^"]+)"$`).FindSubmatch(chartYAML)
	if _, c := operator(chart, new(problems)); appVersion == nil || c == nil || c.Image != "ghcr.io/tokenwarden/tokenwarden:"+string(appVersion[1]) {
		t.Errorf("the default image is not ghcr.io/tokenwarden/tokenwarden:<appVersion of Chart.yaml>")
	}

	if _, err := helmTemplate(t); err == nil || !strings.Contains(err.Error(), "set issuerURL") {
		t.Errorf("rendering without issuerURL: want an error naming issuerURL, got %v", err)
	}
}

// TestHelmChartComponents: the chart's serviceMonitor and networkPolicy
// render the optional components of config/components.
func TestHelmChartComponents(t *testing.T) {
	chart := parse(t, renderChart(t, slices.Concat(helmSameAsDefault,
		[]string{"--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true"})...))
	report(t, compareRenders(parse(t, renderAllComponents(t)), chart))
	report(t, checkAll(chart, readRoleYAML(t), true))
}

// TestHelmCRDsAreGenerated: charts/tokenwarden/crds holds exactly the files
// `make manifests` generates into config/crd/bases (it copies them).
func TestHelmCRDsAreGenerated(t *testing.T) {
	bases, err := filepath.Glob("crd/bases/*.yaml")
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, err := filepath.Glob(filepath.Join(chartDir, "crds", "*"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(paths []string) []string {
		var n []string
		for _, p := range paths {
			n = append(n, filepath.Base(p))
		}
		return n
	}
	if !slices.Equal(names(bases), names(copies)) {
		t.Fatalf("charts/tokenwarden/crds holds %v, config/crd/bases %v; run make manifests", names(copies), names(bases))
	}
	for _, base := range bases {
		want, err := os.ReadFile(base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(base)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/tokenwarden/crds/%s differs from config/crd/bases; run make manifests", filepath.Base(base))
		}
	}
}

// TestHelmComparisonCatchesDifferences changes the chart's render in one
// place per case, the way a marker or manifest change not carried to the
// chart would, and expects compareRenders to say so; two cases change the
// render through values instead.
func TestHelmComparisonCatchesDifferences(t *testing.T) {
	kustYAML, chartYAML := renderDefault(t), renderChart(t, helmSameAsDefault...)
	if p := compareRenders(parse(t, kustYAML), parse(t, chartYAML)); len(p) > 0 {
		t.Fatalf("the unchanged renders already differ: %q", p)
	}
	find := func(r *rendered, kind, name string) *unstructured.Unstructured {
		for _, u := range r.all {
			if u.GetKind() == kind && u.GetName() == name {
				return u
			}
		}
		t.Fatalf("no %s %s rendered", kind, name)
		return nil
	}
	// field walks an object by keys (string) and indices (int) to a map.
	field := func(u *unstructured.Unstructured, path ...any) map[string]any {
		var cur any = u.Object
		for _, k := range path {
			switch k := k.(type) {
			case string:
				cur = cur.(map[string]any)[k]
			case int:
				cur = cur.([]any)[k]
			}
		}
		return cur.(map[string]any)
	}
	deployment := func(r *rendered) *unstructured.Unstructured {
		return find(r, "Deployment", "tokenwarden-controller-manager")
	}
	podSpec := []any{"spec", "template", "spec"}
	manager := append(slices.Clone(podSpec), "containers", 0)
	cases := []struct {
		name   string
		mutate func(r *rendered)
		want   string
	}{
		{"ClusterRole loses a Secret verb", func(r *rendered) {
			field(find(r, "ClusterRole", "tokenwarden-manager"), "rules", 2)["verbs"] = []any{"create", "get", "list", "patch", "update", "watch"}
		}, "ClusterRole.rbac.authorization.k8s.io tokenwarden-manager: rules[2].verbs"},
		{"ClusterRole gains a rule", func(r *rendered) {
			cr := field(find(r, "ClusterRole", "tokenwarden-manager"))
			cr["rules"] = append(cr["rules"].([]any), map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}})
		}, "tokenwarden-manager: rules is"},
		{"leader-election Role gains a verb", func(r *rendered) {
			field(find(r, "Role", "tokenwarden-leader-election"), "rules", 0)["verbs"] = []any{"get", "create", "update", "delete"}
		}, "tokenwarden-system/tokenwarden-leader-election: rules[0].verbs"},
		{"binding to another subject", func(r *rendered) {
			field(find(r, "ClusterRoleBinding", "tokenwarden-manager"), "subjects", 0)["name"] = "default"
		}, "subjects[0].name"},
		{"pod may run as root", func(r *rendered) {
			delete(field(deployment(r), slices.Concat(podSpec, []any{"securityContext"})...), "runAsNonRoot")
		}, "spec.template.spec.securityContext.runAsNonRoot"},
		{"writable root filesystem", func(r *rendered) {
			field(deployment(r), slices.Concat(manager, []any{"securityContext"})...)["readOnlyRootFilesystem"] = false
		}, "containers[0].securityContext.readOnlyRootFilesystem"},
		{"capabilities kept", func(r *rendered) {
			delete(field(deployment(r), slices.Concat(manager, []any{"securityContext"})...), "capabilities")
		}, "containers[0].securityContext.capabilities"},
		{"probe path", func(r *rendered) {
			field(deployment(r), slices.Concat(manager, []any{"readinessProbe", "httpGet"})...)["path"] = "/healthz"
		}, "readinessProbe.httpGet.path"},
		{"memory limit", func(r *rendered) {
			field(deployment(r), slices.Concat(manager, []any{"resources", "limits"})...)["memory"] = "2Gi"
		}, "resources.limits.memory"},
		{"port", func(r *rendered) {
			field(deployment(r), slices.Concat(manager, []any{"ports", 0})...)["containerPort"] = int64(9443)
		}, "ports[0].containerPort"},
		{"CRD schema", func(r *rendered) {
			field(find(r, "CustomResourceDefinition", "oauthclients.oauth.tokenwarden.dev"), "spec")["scope"] = "Cluster"
		}, "oauthclients.oauth.tokenwarden.dev: spec.scope"},
		{"Namespace not restricted", func(r *rendered) {
			delete(field(find(r, "Namespace", "tokenwarden-system"), "metadata", "labels"), "pod-security.kubernetes.io/enforce")
		}, "label pod-security.kubernetes.io/enforce"},
		{"object missing", func(r *rendered) {
			r.all = slices.DeleteFunc(r.all, func(u *unstructured.Unstructured) bool { return u.GetKind() == "PodDisruptionBudget" })
		}, "PodDisruptionBudget.policy tokenwarden-system/tokenwarden-controller-manager: only in config/default"},
		{"object renamed", func(r *rendered) { find(r, "ServiceAccount", "tokenwarden-controller-manager").SetName("tokenwarden") }, "tokenwarden-system/tokenwarden: only in the chart"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chart := parse(t, chartYAML)
			tc.mutate(chart)
			p := compareRenders(parse(t, kustYAML), chart)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("difference not caught: want a problem containing %q, got %q", tc.want, p)
			}
		})
	}

	// Through values: what a user may change shows up as a difference.
	for _, tc := range []struct {
		set, want string
	}{
		{"replicas=3", "spec.replicas is 3"},
		{"extraArgs={--leader-elect=false}", "args is"},
	} {
		t.Run("--set "+tc.set, func(t *testing.T) {
			chart := parse(t, renderChart(t, slices.Concat(helmSameAsDefault, []string{"--set", tc.set})...))
			p := compareRenders(parse(t, kustYAML), chart)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("difference not caught: want a problem containing %q, got %q", tc.want, p)
			}
		})
	}
}

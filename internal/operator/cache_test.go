package operator

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func TestValidateModeAndNamespaces(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		watch   []string
		wantErr string
	}{
		{name: "defaults", mode: ModeAll},
		{name: "controllers", mode: ModeControllers, watch: []string{"team-a"}},
		{name: "token server", mode: ModeTokenServer, watch: []string{"team-a", "team-b"}},
		{name: "unknown mode", mode: "both", wantErr: `mode "both" is not one of all, controllers, token-server`},
		{name: "empty mode", mode: "", wantErr: "mode"},
		{name: "not a namespace name", mode: ModeAll, watch: []string{"Team_A"}, wantErr: `watch namespace "Team_A"`},
		{name: "empty name", mode: ModeAll, watch: []string{""}, wantErr: `watch namespace ""`},
		{name: "twice", mode: ModeAll, watch: []string{"a", "b", "a"}, wantErr: `"a" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Mode, o.WatchNamespaces = tt.mode, tt.watch
			err := o.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Validate = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestModeRuns(t *testing.T) {
	for _, tt := range []struct {
		mode               Mode
		addr               string
		controllers, serve bool
	}{
		{ModeAll, ":8443", true, true},
		{ModeAll, "0", true, false},
		{ModeControllers, ":8443", true, false},
		{ModeTokenServer, ":8443", false, true},
	} {
		o := DefaultOptions()
		o.Mode, o.Token.Addr = tt.mode, tt.addr
		if o.runsControllers() != tt.controllers || o.servesTokens() != tt.serve {
			t.Errorf("mode %s addr %s: controllers %v serves %v, want %v %v", tt.mode, tt.addr, o.runsControllers(), o.servesTokens(), tt.controllers, tt.serve)
		}
	}
}

// TestScopedCacheHidesOtherNamespaces: a read of a kind in a namespace
// outside its scope answers as the API server would for an empty
// namespace, never reaching the cache (which would fail).
func TestScopedCacheHidesOtherNamespaces(t *testing.T) {
	o := DefaultOptions()
	o.Namespace, o.WatchNamespaces = "tw-system", []string{"team-a"}
	c := &scopedCache{Cache: &informertest.FakeInformers{Scheme: Scheme()}, scheme: Scheme(), scopes: o.cacheScopes()}
	ctx := context.Background()
	tests := []struct {
		name    string
		obj     client.Object
		ns      string
		outside bool
	}{
		{"client in a watched namespace", &v1alpha1.OAuthClient{}, "team-a", false},
		{"client elsewhere", &v1alpha1.OAuthClient{}, "team-b", true},
		{"client in the operator namespace", &v1alpha1.OAuthClient{}, "tw-system", true},
		{"user elsewhere", &v1alpha1.OAuthUser{}, "team-b", true},
		{"resource elsewhere", &v1alpha1.OAuthResource{}, "team-b", true},
		{"secret in a watched namespace", &corev1.Secret{}, "team-a", false},
		{"secret in the operator namespace", &corev1.Secret{}, "tw-system", false},
		{"secret elsewhere", &corev1.Secret{}, "team-b", true},
		{"configmap in the operator namespace", &corev1.ConfigMap{}, "tw-system", false},
		{"configmap in a watched namespace (a client's JWK Set)", &corev1.ConfigMap{}, "team-a", false},
		{"configmap elsewhere", &corev1.ConfigMap{}, "team-b", true},
		{"namespace (cluster-scoped)", &corev1.Namespace{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.outside(tt.obj, tt.ns); got != tt.outside {
				t.Fatalf("outside = %v, want %v", got, tt.outside)
			}
			if !tt.outside {
				return
			}
			if err := c.Get(ctx, client.ObjectKey{Namespace: tt.ns, Name: "x"}, tt.obj); !apierrors.IsNotFound(err) {
				t.Fatalf("Get = %v, want NotFound", err)
			}
		})
	}
	var list v1alpha1.OAuthClientList
	list.Items = []v1alpha1.OAuthClient{{}}
	if err := c.List(ctx, &list, client.InNamespace("team-b")); err != nil || len(list.Items) != 0 {
		t.Fatalf("List in team-b = %v with %d items, want none", err, len(list.Items))
	}

	o.WatchNamespaces = nil
	all := o.cacheScopes()
	if len(all) != 0 {
		t.Fatalf("without --watch-namespaces kinds are scoped: %v", all)
	}
}

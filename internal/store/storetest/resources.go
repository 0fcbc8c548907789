package storetest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// oauthResource is a resource asking for audience and holding held (its
// status; "" while in conflict).
func oauthResource(ns, name, audience, held string) *v1alpha1.OAuthResource {
	r := &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	r.Spec.Audience = audience
	r.Spec.Scopes = []string{"payments.read", "payments.write"}
	r.Spec.Grants = []v1alpha1.ResourceGrant{{
		Clients:           []v1alpha1.ClientReference{{Namespace: "teama", Name: "billing"}},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}},
		Scopes:            []string{"payments.read"},
	}}
	r.Status.Audience = held
	return r
}

// testDirectoryResources: only the holder of an audience is found, as it
// was put; a resource in conflict or whose spec moved to another audience
// holds nothing.
func testDirectoryResources(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns := fx.Stores().Directory, fx.Namespace(t)
	aud := "https://payments." + ns + ".example"
	put := fx.PutResource(t, oauthResource(ns, "payments", aud, aud))
	fx.PutResource(t, oauthResource(ns, "squatter", aud+"/conflict", ""))
	fx.PutResource(t, oauthResource(ns, "renamed", aud+"/new", aud+"/old"))

	r, err := dir.ResourceByAudience(ctx, aud)
	if err != nil {
		t.Fatalf("resource by audience: %v", err)
	}
	if r.UID != put.UID || r.Namespace != ns || r.Name != "payments" || len(r.Spec.Grants) != 1 ||
		r.Spec.Grants[0].NamespaceSelector.MatchLabels["tier"] != "prod" || r.Spec.Grants[0].Clients[0].Name != "billing" {
		t.Fatalf("resource by audience: %+v", r)
	}
	for _, a := range []string{"", aud + "/conflict", aud + "/new", aud + "/old", "https://missing.example"} {
		r, err = dir.ResourceByAudience(ctx, a)
		expectNotFound(t, "resource by audience "+a, r, err)
	}
}

// testDirectoryResourceClash: two resources holding one audience (a state
// the controllers resolve) make neither found, so neither grants anything.
func testDirectoryResourceClash(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns1, ns2 := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	aud := "https://shared." + ns1 + ".example"
	fx.PutResource(t, oauthResource(ns1, "one", aud, aud))
	if _, err := dir.ResourceByAudience(ctx, aud); err != nil {
		t.Fatalf("sole holder: %v", err)
	}
	fx.PutResource(t, oauthResource(ns2, "two", aud, aud))
	r, err := dir.ResourceByAudience(ctx, aud)
	expectNotFound(t, "audience held twice", r, err)
}

// testDirectoryResourceDeleting: a resource being deleted grants nothing.
func testDirectoryResourceDeleting(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns := fx.Stores().Directory, fx.Namespace(t)
	aud := "https://going." + ns + ".example"
	r := fx.PutResource(t, oauthResource(ns, "going", aud, aud))
	if _, err := dir.ResourceByAudience(ctx, aud); err != nil {
		t.Fatalf("before deletion: %v", err)
	}
	fx.MarkDeleting(t, r)
	got, err := dir.ResourceByAudience(ctx, aud)
	expectNotFound(t, "deleting resource", got, err)
}

// testDirectoryNamespaceLabels: the labels put are read back, with the name
// label every namespace carries, and a change shows.
func testDirectoryNamespaceLabels(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns, other := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	l, err := dir.NamespaceLabels(ctx, ns)
	if err != nil || l[corev1.LabelMetadataName] != ns || l["tier"] != "" {
		t.Fatalf("fresh namespace: %v, %v", l, err)
	}
	fx.PutNamespaceLabels(t, ns, map[string]string{"tier": "prod"})
	if l, err = dir.NamespaceLabels(ctx, ns); err != nil || l["tier"] != "prod" || l[corev1.LabelMetadataName] != ns {
		t.Fatalf("labelled namespace: %v, %v", l, err)
	}
	fx.PutNamespaceLabels(t, ns, map[string]string{"tier": "dev"})
	if l, err = dir.NamespaceLabels(ctx, ns); err != nil || l["tier"] != "dev" {
		t.Fatalf("relabelled namespace: %v, %v", l, err)
	}
	if l, err = dir.NamespaceLabels(ctx, other); err != nil || l["tier"] != "" {
		t.Fatalf("another namespace shows the labels: %v, %v", l, err)
	}
	got, err := dir.NamespaceLabels(ctx, "")
	expectNotFound(t, "namespace labels of the empty name", &got, err)
}

package controllers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func newResource(ns, name, audience string, mutate ...func(*v1alpha1.OAuthResource)) *v1alpha1.OAuthResource {
	r := &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	r.Spec.Audience = audience
	r.Spec.Scopes = []string{"payments.read", "payments.write", "payments.admin"}
	for _, m := range mutate {
		m(r)
	}
	return r
}

func TestResourceAudienceConflictAndTakeover(t *testing.T) {
	nsA, nsB := env.Namespace(t), env.Namespace(t)
	aud := "https://payments." + nsA + ".example"
	first := newResource(nsA, "payments", aud)
	create(t, first)
	waitReady(t, first, metav1.ConditionTrue, "Ready")
	g := gomega.NewWithT(t)
	g.Expect(first.Status.Audience).To(gomega.Equal(aud))
	g.Expect(first.Status.ObservedGeneration).To(gomega.Equal(first.Generation))

	second := newResource(nsB, "squatter", aud)
	create(t, second)
	cond := waitReady(t, second, metav1.ConditionFalse, "AudienceConflict")
	g.Expect(cond.Message).To(gomega.ContainSubstring(nsA + "/payments"))
	g.Expect(second.Status.Audience).To(gomega.BeEmpty(), "a resource in conflict holds no audience")
	eventually(t, eventReasons(nsB, "squatter")).Should(gomega.ContainElement("AudienceConflict"))
	// The first holder keeps it, whatever happens to the second.
	touch(t, second)
	waitReady(t, first, metav1.ConditionTrue, "Ready")
	g.Expect(first.Status.Audience).To(gomega.Equal(aud))

	// When the holder goes, the audience passes to the other at once.
	if err := env.Client.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	waitReady(t, second, metav1.ConditionTrue, "Ready")
	g.Expect(second.Status.Audience).To(gomega.Equal(aud))
	eventually(t, eventReasons(nsB, "squatter")).Should(gomega.ContainElement("AudienceClaimed"))
}

// TestResourceCannotHoldAnotherNamespacesClientID is an attacker's test: a
// client's own tokens carry its client_id as aud, so a resource of another
// namespace claiming that id as its audience could grant tokens that pass for
// the client's. The client's own namespace may.
func TestResourceCannotHoldAnotherNamespacesClientID(t *testing.T) {
	victimNS, evilNS := env.Namespace(t), env.Namespace(t)
	victim := newClient(victimNS, "payments")
	create(t, victim)
	waitReady(t, victim, metav1.ConditionTrue, "Ready")
	id := victimNS + ".payments"

	squat := newResource(evilNS, "squat", id)
	create(t, squat)
	cond := waitReady(t, squat, metav1.ConditionFalse, "AudienceConflict")
	gomega.NewWithT(t).Expect(cond.Message).To(gomega.ContainSubstring("OAuthClient " + victimNS + "/payments"))

	own := newResource(victimNS, "own", id)
	create(t, own)
	waitReady(t, own, metav1.ConditionTrue, "Ready")
}

func TestResourceInvalidNamespaceSelectorKeepsAudience(t *testing.T) {
	ns := env.Namespace(t)
	aud := "https://sel." + ns + ".example"
	r := newResource(ns, "sel", aud, func(r *v1alpha1.OAuthResource) {
		r.Spec.Grants = []v1alpha1.ResourceGrant{{
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}}},
			Scopes:            []string{"payments.read"},
		}}
	})
	create(t, r)
	cond := waitReady(t, r, metav1.ConditionFalse, "InvalidNamespaceSelector")
	g := gomega.NewWithT(t)
	g.Expect(cond.Message).To(gomega.ContainSubstring("spec.grants[0].namespaceSelector"))
	g.Expect(r.Status.Audience).To(gomega.Equal(aud))
}

// TestResourceInvalidSpecsAreRejected checks the API server refuses invalid
// resources with a message a person can act on.
func TestResourceInvalidSpecsAreRejected(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		name   string
		mutate func(*v1alpha1.OAuthResource)
		want   string
	}{
		{"grant of an undefined scope", func(r *v1alpha1.OAuthResource) {
			r.Spec.Grants = []v1alpha1.ResourceGrant{{Clients: []v1alpha1.ClientReference{{Namespace: "a", Name: "b"}}, Scopes: []string{"payments.delete"}}}
		}, "every scope in spec.grants[].scopes must be listed in spec.scopes"},
		{"grant of a scope when none are defined", func(r *v1alpha1.OAuthResource) {
			r.Spec.Scopes = nil
			r.Spec.Grants = []v1alpha1.ResourceGrant{{Clients: []v1alpha1.ClientReference{{Namespace: "a", Name: "b"}}, Scopes: []string{"payments.read"}}}
		}, "every scope in spec.grants[].scopes must be listed in spec.scopes"},
		{"grant naming nobody", func(r *v1alpha1.OAuthResource) {
			r.Spec.Grants = []v1alpha1.ResourceGrant{{Scopes: []string{"payments.read"}}}
		}, "a grant must name clients, select namespaces with namespaceSelector, or both"},
		{"grant of no scopes", func(r *v1alpha1.OAuthResource) {
			r.Spec.Grants = []v1alpha1.ResourceGrant{{Clients: []v1alpha1.ClientReference{{Namespace: "a", Name: "b"}}}}
		}, "spec.grants[0].scopes"},
		{"audience with a space", func(r *v1alpha1.OAuthResource) {
			r.Spec.Audience = "https://a.example/ b"
		}, "audience must be printable ASCII without spaces"},
		{"empty audience", func(r *v1alpha1.OAuthResource) {
			r.Spec.Audience = ""
		}, "spec.audience"},
		{"scope with a double quote", func(r *v1alpha1.OAuthResource) {
			r.Spec.Scopes = []string{`pay"ments`}
		}, "a scope must be a scope token"},
		{"client reference with a bad namespace", func(r *v1alpha1.OAuthResource) {
			r.Spec.Grants = []v1alpha1.ResourceGrant{{Clients: []v1alpha1.ClientReference{{Namespace: "Team_A", Name: "b"}}, Scopes: []string{"payments.read"}}}
		}, "namespace must be a namespace name"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := newResource(ns, "r"+strings.Repeat("x", i), "https://ok.example", tt.mutate)
			err := env.Client.Create(context.Background(), obj)
			if err == nil {
				t.Fatalf("created an invalid resource")
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want Invalid mentioning %q", err, tt.want)
			}
		})
	}
}

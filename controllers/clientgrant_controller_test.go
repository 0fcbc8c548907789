package controllers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// audienceOf polls a client's status for one audience.
func audienceOf(c *v1alpha1.OAuthClient, aud string) func() v1alpha1.AudienceStatus {
	return func() v1alpha1.AudienceStatus {
		var got v1alpha1.OAuthClient
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), &got); err != nil {
			return v1alpha1.AudienceStatus{}
		}
		for _, s := range got.Status.Audiences {
			if s.Audience == aud {
				return s
			}
		}
		return v1alpha1.AudienceStatus{}
	}
}

// granted matches a granted AudienceStatus by resource and scopes.
func granted(resource string, scopes ...string) gomega.OmegaMatcher {
	return gomega.And(
		gomega.HaveField("Granted", true), gomega.HaveField("Resource", resource),
		gomega.HaveField("Scopes", gomega.Equal(scopes)), gomega.HaveField("Reason", ""))
}

// refused matches a refused AudienceStatus with reason.
func refused(reason string) gomega.OmegaMatcher {
	return gomega.And(gomega.HaveField("Granted", false), gomega.HaveField("Reason", reason),
		gomega.HaveField("Resource", ""), gomega.HaveField("Scopes", gomega.BeEmpty()))
}

// audiencesGranted polls a client's AudiencesGranted condition as
// "Status/Reason".
func audiencesGranted(c *v1alpha1.OAuthClient) func() string {
	return func() string {
		var got v1alpha1.OAuthClient
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), &got); err != nil {
			return ""
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAudiencesGranted)
		if cond == nil || cond.ObservedGeneration != got.Generation {
			return ""
		}
		return fmt.Sprintf("%s/%s", cond.Status, cond.Reason)
	}
}

func labelNamespace(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	patch := client.MergeFrom(n.DeepCopy())
	n.Labels = labels
	if err := env.Client.Patch(context.Background(), n, patch); err != nil {
		t.Fatalf("label namespace %s: %v", ns, err)
	}
}

func asking(ns, name, aud string, scopes ...string) *v1alpha1.OAuthClient {
	return newClient(ns, name, func(c *v1alpha1.OAuthClient) {
		c.Spec.Audiences = []string{aud}
		c.Spec.Scopes = scopes
	})
}

// TestGrantToOtherNamespaces: teamb's resource grants teama/billing one scope
// by name and the namespaces labelled tier=<unique> another by selector; each
// gets exactly its grant, a client of an unselected namespace gets nothing,
// and withdrawing a grant or a label refuses again.
func TestGrantToOtherNamespaces(t *testing.T) {
	teamA, teamB, teamC, evil := env.Namespace(t), env.Namespace(t), env.Namespace(t), env.Namespace(t)
	aud := "https://payments." + teamB + ".example"
	tier := "tier-" + teamC
	res := newResource(teamB, "payments", aud, func(r *v1alpha1.OAuthResource) {
		r.Spec.Grants = []v1alpha1.ResourceGrant{
			{Clients: []v1alpha1.ClientReference{{Namespace: teamA, Name: "billing"}}, Scopes: []string{"payments.read"}},
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": tier}}, Scopes: []string{"payments.write"}},
		}
	})
	create(t, res)
	waitReady(t, res, metav1.ConditionTrue, "Ready")
	holder := teamB + "/payments"

	billing := asking(teamA, "billing", aud, "payments.read", "payments.admin")
	reports := asking(teamC, "reports", aud, "payments.read", "payments.write")
	// The same name as the granted client, in another namespace.
	squatter := asking(evil, "billing", aud, "payments.read", "payments.admin")
	for _, c := range []*v1alpha1.OAuthClient{billing, reports, squatter} {
		create(t, c)
	}
	eventually(t, audienceOf(billing, aud)).Should(granted(holder, "payments.read"))
	eventually(t, audiencesGranted(billing)).Should(gomega.Equal("True/Granted"))
	eventually(t, audienceOf(squatter, aud)).Should(refused("NotGranted"))
	eventually(t, audiencesGranted(squatter)).Should(gomega.Equal("False/AudienceRefused"))
	eventually(t, eventReasons(evil, "billing")).Should(gomega.ContainElement("AudienceRefused"))
	// teamC is not labelled yet: refused; labelling it grants the selector's scope.
	eventually(t, audienceOf(reports, aud)).Should(refused("NotGranted"))
	labelNamespace(t, teamC, map[string]string{"tier": tier})
	eventually(t, audienceOf(reports, aud)).Should(granted(holder, "payments.write"))
	eventually(t, audiencesGranted(reports)).Should(gomega.Equal("True/Granted"))

	// Withdraw the grant by name: billing is refused; the selector's stands.
	patch := client.MergeFrom(res.DeepCopy())
	res.Spec.Grants = res.Spec.Grants[1:]
	if err := env.Client.Patch(context.Background(), res, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, audienceOf(billing, aud)).Should(refused("NotGranted"))
	eventually(t, audiencesGranted(billing)).Should(gomega.Equal("False/AudienceRefused"))
	gomega.NewWithT(t).Expect(audienceOf(reports, aud)()).To(granted(holder, "payments.write"))
	// Remove the label: the selector no longer matches.
	labelNamespace(t, teamC, map[string]string{"tier": "other"})
	eventually(t, audienceOf(reports, aud)).Should(refused("NotGranted"))
}

// TestGrantSameNamespaceAndNoSuchResource: a client of the resource's own
// namespace is granted without a grant (its own scopes within the resource's);
// an audience no resource holds is refused, and granted once one claims it.
func TestGrantSameNamespaceAndNoSuchResource(t *testing.T) {
	ns := env.Namespace(t)
	aud := "https://ledger." + ns + ".example"
	res := newResource(ns, "ledger", aud)
	create(t, res)
	waitReady(t, res, metav1.ConditionTrue, "Ready")
	own := asking(ns, "checkout", aud, "openid", "payments.write", "payments.read")
	create(t, own)
	eventually(t, audienceOf(own, aud)).Should(granted(ns+"/ledger", "payments.write", "payments.read"))
	eventually(t, audiencesGranted(own)).Should(gomega.Equal("True/Granted"))

	unheld := "https://nobody." + ns + ".example"
	lonely := asking(ns, "lonely", unheld, "payments.read")
	create(t, lonely)
	eventually(t, audienceOf(lonely, unheld)).Should(refused("NoSuchResource"))
	eventually(t, audiencesGranted(lonely)).Should(gomega.Equal("False/AudienceRefused"))
	var got v1alpha1.OAuthClient
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "lonely"}, &got); err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAudiencesGranted)
	gomega.NewWithT(t).Expect(cond.Message).To(gomega.ContainSubstring(unheld))

	// A resource claiming the audience grants it at once.
	create(t, newResource(ns, "late", unheld))
	eventually(t, audienceOf(lonely, unheld)).Should(granted(ns+"/late", "payments.read"))

	// A client asking for its own client_id is granted it, as the token
	// server does, once it holds the id.
	self := asking(ns, "self", ns+".self")
	create(t, self)
	eventually(t, audienceOf(self, ns+".self")).Should(granted(""))

	// A client without audiences is granted trivially.
	plain := newClient(ns, "plain")
	create(t, plain)
	eventually(t, audiencesGranted(plain)).Should(gomega.Equal("True/Granted"))
}

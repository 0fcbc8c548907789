package controllers_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// allowUnprefixed sets or, with allow false, removes the platform team's
// annotation allowing unprefixed client IDs in ns.
func allowUnprefixed(t *testing.T, ns string, allow bool) {
	t.Helper()
	var value any // JSON null removes the annotation
	if allow {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{contract.AnnotationAllowUnprefixedClientIDs: value}}})
	if err != nil {
		t.Fatal(err)
	}
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := env.Client.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("annotate namespace %s: %v", ns, err)
	}
}

// legacyNamespace is a fresh namespace in which unprefixed client IDs are
// allowed.
func legacyNamespace(t *testing.T) string {
	ns := env.Namespace(t)
	allowUnprefixed(t, ns, true)
	return ns
}

// holdsNoID checks that c stays not Ready with reason, without a client_id.
func holdsNoID(t *testing.T, c *v1alpha1.OAuthClient, reason string) {
	t.Helper()
	waitReady(t, c, metav1.ConditionFalse, reason)
	gomega.NewWithT(t).Consistently(func() string {
		var got v1alpha1.OAuthClient
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), &got); err != nil {
			return err.Error()
		}
		return got.Status.ClientID + "|" + readyReasonOf(&got)
	}).WithTimeout(2*time.Second).WithPolling(100*time.Millisecond).Should(gomega.Equal("|"+reason), "%s/%s", c.Namespace, c.Name)
}

func readyReasonOf(c *v1alpha1.OAuthClient) string {
	if cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionReady); cond != nil {
		return cond.Reason
	}
	return ""
}

func deleteAndWait(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj))
	}).Should(gomega.BeTrue(), "%s deleted", obj.GetName())
}

func TestClientIDMustBeginWithNamespace(t *testing.T) {
	ns, other := env.Namespace(t), env.Namespace(t)
	prefixed := newClient(ns, "prefixed", func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = ns + ".custom" })
	create(t, prefixed)
	waitReady(t, prefixed, metav1.ConditionTrue, "Ready")
	gomega.NewWithT(t).Expect(prefixed.Status.ClientID).To(gomega.Equal(ns + ".custom"))

	for name, id := range map[string]string{"unprefixed": "legacy-" + ns, "squat": other + ".payments"} {
		c := newClient(ns, name, func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = id })
		create(t, c)
		holdsNoID(t, c, "ClientIDNotAllowed")
		cond := readyCondition(t, c)()
		g := gomega.NewWithT(t)
		g.Expect(cond.Message).To(gomega.ContainSubstring(contract.AnnotationAllowUnprefixedClientIDs), "the message says who can allow it")
		var s corev1.Secret
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name + "-oauth-client"}, &s)
		g.Expect(err).To(gomega.HaveOccurred(), "a refused client gets no Secret")
		eventually(t, eventReasons(ns, name)).Should(gomega.ContainElement("ClientIDNotAllowed"))
	}
}

func TestClientIDUnprefixedAllowedByNamespaceAnnotation(t *testing.T) {
	ns, other, taker := legacyNamespace(t), env.Namespace(t), legacyNamespace(t)
	id := string(uuid.NewUUID())
	legacy := newClient(ns, "legacy", func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = id })
	create(t, legacy)
	waitReady(t, legacy, metav1.ConditionTrue, "Ready")
	gomega.NewWithT(t).Expect(legacy.Status.ClientID).To(gomega.Equal(id))

	// The annotation does not reach into an existing namespace's ids.
	squat := newClient(ns, "squat", func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = other + ".payments" })
	create(t, squat)
	holdsNoID(t, squat, "ClientIDNotAllowed")
	gomega.NewWithT(t).Expect(readyCondition(t, squat)().Message).To(gomega.ContainSubstring("belong to that namespace"))

	// The platform team withdraws the permission: the client loses its id
	// at once, and the id is free for a new claim.
	allowUnprefixed(t, ns, false)
	holdsNoID(t, legacy, "ClientIDNotAllowed")
	next := newClient(taker, "next", func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = id })
	create(t, next)
	waitReady(t, next, metav1.ConditionTrue, "Ready")
	gomega.NewWithT(t).Expect(next.Status.ClientID).To(gomega.Equal(id))
}

// TestClientIDNeverPassesToAnotherNamespace is the GitOps replace attack: a
// squatter in a namespace allowed unprefixed IDs waits on the id a client of
// another namespace holds; the holder is deleted and re-created. The
// squatter never gets the id, and the re-created client takes it back.
func TestClientIDNeverPassesToAnotherNamespace(t *testing.T) {
	victimNS, squatNS := legacyNamespace(t), legacyNamespace(t)
	id := string(uuid.NewUUID())
	withID := func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = id }
	victim := newClient(victimNS, "app", withID)
	create(t, victim)
	waitReady(t, victim, metav1.ConditionTrue, "Ready")
	squat := newClient(squatNS, "squat", withID)
	create(t, squat)
	cond := waitReady(t, squat, metav1.ConditionFalse, "ClientIDConflict")
	g := gomega.NewWithT(t)
	g.Expect(cond.Message).To(gomega.ContainSubstring("never passes to another namespace"))
	waiting := meta.FindStatusCondition(squat.Status.Conditions, "ClientIDWaiting")
	g.Expect(waiting).NotTo(gomega.BeNil())
	g.Expect(waiting.Reason).To(gomega.Equal("HeldInAnotherNamespace"))
	g.Expect(waiting.Message).To(gomega.ContainSubstring(victimNS + "/app of another namespace"))

	deleteAndWait(t, victim)
	// envtest runs no garbage collector: remove the old Secret as it would.
	deleteAndWait(t, getSecret(t, victimNS, "app-oauth-client"))
	holdsNoID(t, squat, "ClientIDConflict")

	again := newClient(victimNS, "app", withID)
	create(t, again)
	waitReady(t, again, metav1.ConditionTrue, "Ready")
	g.Expect(again.Status.ClientID).To(gomega.Equal(id))
	holdsNoID(t, squat, "ClientIDConflict")
}

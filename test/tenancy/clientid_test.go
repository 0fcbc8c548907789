package tenancy_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// allowUnprefixed is the platform team's Namespace annotation allowing
// client IDs that do not begin with the namespace's name.
var allowUnprefixed = map[string]string{"tokenwarden.dev/allow-unprefixed-client-ids": "true"}

// legacyNamespace creates a namespace in which the platform team allowed
// unprefixed client IDs, and gives the attacker of w a tenant's rights in it.
func legacyNamespace(t *testing.T, w *world, prefix string) string {
	t.Helper()
	ns := namespace(t, prefix, allowUnprefixed)
	grantTenant(t, w.evil, ns)
	eventually(t, func() error {
		return w.attacker.List(context.Background(), &v1alpha1.OAuthClientList{}, client.InNamespace(ns))
	}).Should(gomega.Succeed(), "the tenant's rights in %s take effect", ns)
	return ns
}

// attackerClient creates an OAuthClient as the attacker without waiting for
// it to be Ready.
func attackerClient(t *testing.T, w *world, ns, name, clientID string) *v1alpha1.OAuthClient {
	t.Helper()
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.OAuthClientSpec{ClientID: clientID}}
	create(t, w.attacker, c)
	return c
}

// squat is an attacker's OAuthClient and the reason it must stay not Ready.
type squat struct {
	c      *v1alpha1.OAuthClient
	reason string
}

// neverReady checks that each squatter is not Ready with its reason, and
// stays so, holding no client_id and no Secret.
func neverReady(t *testing.T, squatters ...squat) {
	t.Helper()
	for _, s := range squatters {
		waitCondition(t, s.c, v1alpha1.ConditionReady, metav1.ConditionFalse, s.reason)
	}
	consistently(t, func() []string {
		var held []string
		for _, s := range squatters {
			var got v1alpha1.OAuthClient
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s.c), &got); err != nil {
				return []string{err.Error()}
			}
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if got.Status.ClientID != "" || got.Status.SecretName != "" || ready == nil || ready.Status != metav1.ConditionFalse {
				held = append(held, fmt.Sprintf("%s/%s: id %q, Secret %q, Ready %v", got.Namespace, got.Name, got.Status.ClientID, got.Status.SecretName, ready))
			}
		}
		return held
	}).Should(gomega.BeEmpty(), "squatters hold no client_id and no Secret")
}

// Attack 2: a client_id equal to a user's UID (the sub of the user's tokens).
// In a tenant's namespace the prefix rule refuses it; where the platform
// team allowed unprefixed IDs the client gets it, but its tokens' subject is
// client:<id>, never the user's.
func TestAttackClientIDEqualToUserUID(t *testing.T) {
	w := newWorld(t)
	victim, pw := newUser(t, env.Client, w.teamA, "alice", v1alpha1.OAuthUserSpec{})
	appID, appSecret := newClient(t, env.Client, w.teamA, "portal", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}, Scopes: []string{"openid"},
	})
	_, userClaims := wantToken(t, passwordGrant(t, appID, appSecret, "alice", pw, "scope", "openid"))
	uid := string(victim.UID)
	if userClaims["sub"] != uid {
		t.Fatalf("user sub %v, want the user's UID %s", userClaims["sub"], uid)
	}

	neverReady(t, squat{attackerClient(t, w, w.evil, "as-alice", uid), "ClientIDNotAllowed"})

	legacy := legacyNamespace(t, w, "evil-legacy-")
	id, secret := newClient(t, w.attacker, legacy, "as-alice", v1alpha1.OAuthClientSpec{ClientID: uid})
	body, claims := wantToken(t, clientCredentials(t, id, secret))
	if claims["sub"] != "client:"+uid || claims["sub"] == userClaims["sub"] || claims["client_id"] != uid {
		t.Fatalf("client sub %v client_id %v, want client:%s (the user's sub is %v)", claims["sub"], claims["client_id"], uid, userClaims["sub"])
	}
	r := testhttp.Send(t, http.MethodGet, issuer+"/userinfo", "", nil, "Authorization", "Bearer "+body["access_token"].(string))
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("userinfo with the client's token: %d %s, want 401", r.Status, r.Raw)
	}
}

// Attack 3: the attacker waits on an id another namespace holds, and the
// holder is deleted and re-created (a GitOps replace). From a tenant's
// namespace the id is not the attacker's to ask for; from a namespace with
// unprefixed IDs allowed, a namespace's default id space stays refused, and
// a legacy id never passes to the squatter.
func TestAttackClientIDWaitsForGitOpsReplace(t *testing.T) {
	w := newWorld(t)
	legacyVictim := namespace(t, "teamb-legacy-", allowUnprefixed)
	legacyEvil := legacyNamespace(t, w, "evil-legacy-")
	defaultID := w.teamB + ".payments"
	legacyID := string(uuid.NewUUID())

	newClient(t, env.Client, w.teamB, "payments", v1alpha1.OAuthClientSpec{})
	newClient(t, env.Client, legacyVictim, "payments", v1alpha1.OAuthClientSpec{ClientID: legacyID})
	squatters := []squat{
		{attackerClient(t, w, w.evil, "squat-default", defaultID), "ClientIDNotAllowed"},
		{attackerClient(t, w, legacyEvil, "squat-default", defaultID), "ClientIDNotAllowed"},
		{attackerClient(t, w, legacyEvil, "squat-legacy", legacyID), "ClientIDConflict"},
	}
	neverReady(t, squatters...)

	// The GitOps replace: delete, wait until gone, apply again.
	for _, v := range []struct{ ns, id string }{{w.teamB, ""}, {legacyVictim, legacyID}} {
		old := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: "payments"}}
		if err := env.Client.Delete(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		waitGone(t, old)
		// envtest runs no garbage collector; in a cluster it deletes the
		// Secret the deleted client owned.
		owned := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: "payments-oauth-client"}}
		if err := env.Client.Delete(context.Background(), owned); client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		// The squatters wait through the gap, however long the apply takes.
		neverReady(t, squatters...)
		newClient(t, env.Client, v.ns, "payments", v1alpha1.OAuthClientSpec{ClientID: v.id})
	}
	neverReady(t, squatters...)
}

// waitGone waits until obj no longer exists.
func waitGone(t testing.TB, obj client.Object) {
	t.Helper()
	eventually(t, func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj))
	}).Should(gomega.BeTrue(), "%s/%s deleted", obj.GetNamespace(), obj.GetName())
}

package tenancy_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// paymentsAudience is team B's payments API.
func paymentsAudience(w *world) string { return "https://payments." + w.teamB + ".example" }

// teamBPayments registers team B's payments API, which grants team A's
// billing client payments.read and nothing else, and team B's own
// resource-server client (payments-api) that introspects tokens. It returns
// the audience and that client's credentials.
func teamBPayments(t *testing.T, w *world) (aud, rsID, rsSecret string) {
	t.Helper()
	aud = paymentsAudience(w)
	newResource(t, env.Client, w.teamB, "payments", v1alpha1.OAuthResourceSpec{
		Audience: aud, Scopes: []string{"payments.read", "payments.admin"},
		Grants: []v1alpha1.ResourceGrant{{
			Clients: []v1alpha1.ClientReference{{Namespace: w.teamA, Name: "billing"}},
			Scopes:  []string{"payments.read"},
		}},
	})
	rsID, rsSecret = newClient(t, env.Client, w.teamB, "payments-api", v1alpha1.OAuthClientSpec{})
	return aud, rsID, rsSecret
}

// The attacker holds only a tenant's rights, and the API server enforces
// them: nothing in another namespace, no OAuthClient, Secret or RBAC change
// outside its own.
func TestAttackerHoldsOnlyTenantRights(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	eventually(t, func() error {
		return w.attacker.List(ctx, &v1alpha1.OAuthClientList{}, client.InNamespace(w.evil))
	}).Should(gomega.Succeed(), "the tenant may list its own OAuthClients")
	err := w.attacker.Create(ctx, &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: w.teamB, Name: "payments"}})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("creating an OAuthClient in team B's namespace: %v, want Forbidden (RBAC must be on)", err)
	}
	if err := w.attacker.List(ctx, &v1alpha1.OAuthResourceList{}, client.InNamespace(w.teamB)); !apierrors.IsForbidden(err) {
		t.Fatalf("listing team B's OAuthResources: %v, want Forbidden", err)
	}
	if err := w.attacker.List(ctx, &v1alpha1.OAuthClientList{}, client.InNamespace(operatorNamespace)); !apierrors.IsForbidden(err) {
		t.Fatalf("listing the operator namespace: %v, want Forbidden", err)
	}
}

// Attack 1: the attacker declares team B's audience and scopes on a client
// of its own namespace. Its status shows the audience refused, an explicit
// request is invalid_target, its default token has neither the audience nor
// the scopes, team B's introspection says inactive, and the token names the
// attacker's namespace.
func TestAttackSquatAudienceAndScopes(t *testing.T) {
	w := newWorld(t)
	aud, rsID, rsSecret := teamBPayments(t, w)
	id, secret := newClient(t, w.attacker, w.evil, "payments", v1alpha1.OAuthClientSpec{
		Scopes: []string{"payments.admin", "payments.read"}, Audiences: []string{aud},
	})

	oc := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, Name: "payments"}}
	waitCondition(t, oc, v1alpha1.ConditionAudiencesGranted, metav1.ConditionFalse, "AudienceRefused")
	if len(oc.Status.Audiences) != 1 || oc.Status.Audiences[0].Audience != aud || oc.Status.Audiences[0].Granted ||
		oc.Status.Audiences[0].Reason != "NotGranted" {
		t.Fatalf("status.audiences %+v, want %s refused as NotGranted", oc.Status.Audiences, aud)
	}

	wantError(t, clientCredentials(t, id, secret, "audience", aud), http.StatusBadRequest, "invalid_target")
	wantError(t, clientCredentials(t, id, secret, "resource", aud), http.StatusBadRequest, "invalid_target")
	wantError(t, clientCredentials(t, id, secret, "audience", aud, "scope", "payments.admin"), http.StatusBadRequest, "invalid_target")
	wantError(t, clientCredentials(t, id, secret, "scope", "payments.admin"), http.StatusBadRequest, "invalid_scope")

	body, claims := wantToken(t, clientCredentials(t, id, secret))
	if got := testhttp.Audiences(claims); slices.Contains(got, aud) || slices.Contains(got, rsID) {
		t.Fatalf("the default token carries team B's audience: aud %v", got)
	}
	if s := claims["scope"]; s != nil && strings.Contains(s.(string), "payments.") {
		t.Fatalf("the default token carries team B's scopes: %v", s)
	}
	if claims["tokenwarden.dev/namespace"] != w.evil || claims["sub"] != "client:"+id {
		t.Fatalf("tenant %v sub %v, want %s and client:%s", claims["tokenwarden.dev/namespace"], claims["sub"], w.evil, id)
	}
	if r := introspect(t, rsID, rsSecret, body["access_token"].(string)); r.Body["active"] != false || len(r.Body) != 1 {
		t.Fatalf("team B's introspection of the attacker's token: %s, want only active:false", r.Raw)
	}
}

// Legitimate use beside the attack: team B's resource grants team A's billing
// client payments.read; billing gets a token with that audience and that
// scope and nothing more, and team B's resource server sees it active, from
// team A.
func TestGrantGivesAudienceAndScopeAndNothingMore(t *testing.T) {
	w := newWorld(t)
	aud, rsID, rsSecret := teamBPayments(t, w)
	id, secret := newClient(t, env.Client, w.teamA, "billing", v1alpha1.OAuthClientSpec{
		Scopes: []string{"payments.read", "payments.admin"}, Audiences: []string{aud},
	})
	oc := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: w.teamA, Name: "billing"}}
	waitCondition(t, oc, v1alpha1.ConditionAudiencesGranted, metav1.ConditionTrue, "")
	if st := oc.Status.Audiences; len(st) != 1 || !st[0].Granted || !slices.Equal(st[0].Scopes, []string{"payments.read"}) {
		t.Fatalf("status.audiences %+v, want %s granted with payments.read", st, aud)
	}

	for _, kv := range [][]string{{"audience", aud, "scope", "payments.read"}, {}} {
		body, claims := wantToken(t, clientCredentials(t, id, secret, kv...))
		if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) || !slices.Equal(scopes(claims), []string{"payments.read"}) {
			t.Fatalf("request %v: aud %v scope %v, want %s and payments.read only", kv, got, claims["scope"], aud)
		}
		if claims["tokenwarden.dev/namespace"] != w.teamA || claims["sub"] != "client:"+id || claims["client_id"] != id {
			t.Fatalf("tenant %v sub %v client_id %v", claims["tokenwarden.dev/namespace"], claims["sub"], claims["client_id"])
		}
		r := introspect(t, rsID, rsSecret, body["access_token"].(string))
		if r.Body["active"] != true || r.Body["tokenwarden.dev/namespace"] != w.teamA || r.Body["scope"] != "payments.read" {
			t.Fatalf("team B's introspection: %s", r.Raw)
		}
	}
	wantError(t, clientCredentials(t, id, secret, "scope", "payments.admin"), http.StatusBadRequest, "invalid_scope")
	wantError(t, clientCredentials(t, id, secret, "audience", aud, "scope", "payments.admin"), http.StatusBadRequest, "invalid_scope")
}

// A client of the resource's own namespace gets tokens for it with no grant.
func TestSameNamespaceClientNeedsNoGrant(t *testing.T) {
	w := newWorld(t)
	aud, _, _ := teamBPayments(t, w)
	id, secret := newClient(t, env.Client, w.teamB, "checkout", v1alpha1.OAuthClientSpec{
		Scopes: []string{"payments.admin"}, Audiences: []string{aud},
	})
	_, claims := wantToken(t, clientCredentials(t, id, secret, "audience", aud, "scope", "payments.admin"))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) || !slices.Equal(scopes(claims), []string{"payments.admin"}) {
		t.Fatalf("aud %v scope %v, want %s and payments.admin", got, claims["scope"], aud)
	}
	if claims["tokenwarden.dev/namespace"] != w.teamB {
		t.Fatalf("tenant %v, want %s", claims["tokenwarden.dev/namespace"], w.teamB)
	}
}

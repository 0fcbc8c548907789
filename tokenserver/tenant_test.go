package tokenserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// The tenant boundary at the token endpoint (issue 11): a namespace obtains
// tokens only for what it owns or was granted. Each attack of the issue that
// the token server decides is made here by a client of another namespace, and
// fails, while the legitimate uses beside it keep working.

// tnTeams sets up team B's payments resource, which grants team A's billing
// client payments.read, and returns the audience.
func tnTeams(t *testing.T) (a, b *fixture, aud string) {
	a, b = newFixture(t), newFixture(t)
	aud = "https://payments." + b.NS + ".example"
	b.Resource("payments", v1alpha1.OAuthResourceSpec{
		Audience: aud, Scopes: []string{"payments.read", "payments.admin"},
		Grants: []v1alpha1.ResourceGrant{{Clients: []v1alpha1.ClientReference{{Namespace: a.NS, Name: "billing"}}, Scopes: []string{"payments.read"}}},
	})
	return a, b, aud
}

func tnClientCredentials(t *testing.T, id, secret string, kv ...string) response {
	t.Helper()
	return post(t, "/oauth/token", formType, form(append([]string{"grant_type", "client_credentials"}, kv...)...), "Authorization", testhttp.Basic(id, secret))
}

func TestTenantGrantedAudienceAndNothingMore(t *testing.T) {
	a, _, aud := tnTeams(t)
	id, secret := a.Client("billing", v1alpha1.OAuthClientSpec{Scopes: []string{"payments.read", "payments.admin", "invoices.read"}, Audiences: []string{aud}})

	_, claims := rqWantToken(t, tnClientCredentials(t, id, secret, "scope", "payments.read"))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) || claims["scope"] != "payments.read" || claims["tokenwarden.dev/namespace"] != a.NS {
		t.Fatalf("granted token: aud %v scope %v namespace %v", got, claims["scope"], claims["tokenwarden.dev/namespace"])
	}
	// By default: the granted audience, with only the granted scopes.
	_, claims = rqWantToken(t, tnClientCredentials(t, id, secret))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) || claims["scope"] != "payments.read" {
		t.Fatalf("default token: aud %v scope %v, want %s and payments.read", got, claims["scope"], aud)
	}
	// The scope the resource defines but does not grant.
	rqWantError(t, tnClientCredentials(t, id, secret, "scope", "payments.admin"), http.StatusBadRequest, "invalid_scope")
	rqWantError(t, tnClientCredentials(t, id, secret, "scope", "payments.admin", "audience", aud), http.StatusBadRequest, "invalid_scope")
	// Its own scope is for itself, not for the resource.
	rqWantError(t, tnClientCredentials(t, id, secret, "scope", "invoices.read", "audience", aud), http.StatusBadRequest, "invalid_scope")
	_, claims = rqWantToken(t, tnClientCredentials(t, id, secret, "scope", "invoices.read", "audience", id))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{id}) {
		t.Fatalf("own scope: aud %v, want the client itself", got)
	}
}

// Attack 1: a client of another namespace declares team B's audience and
// scopes for itself.
func TestTenantSelfDeclaredAudienceIsNotGranted(t *testing.T) {
	_, b, aud := tnTeams(t)
	evil := newFixture(t)
	id, secret := evil.Client("payments", v1alpha1.OAuthClientSpec{Scopes: []string{"payments.admin", "payments.read"}, Audiences: []string{aud}})

	rqWantError(t, tnClientCredentials(t, id, secret, "audience", aud), http.StatusBadRequest, "invalid_target")
	rqWantError(t, tnClientCredentials(t, id, secret, "resource", aud), http.StatusBadRequest, "invalid_target")
	rqWantError(t, tnClientCredentials(t, id, secret, "scope", "payments.admin"), http.StatusBadRequest, "invalid_scope")
	_, claims := rqWantToken(t, tnClientCredentials(t, id, secret))
	scope, _ := claims["scope"].(string)
	if got := testhttp.Audiences(claims); slices.Contains(got, aud) || strings.Contains(scope, "payments.") {
		t.Fatalf("the default token of a self-declared audience carries it: aud %v scope %q", got, claims["scope"])
	}
	if claims["tokenwarden.dev/namespace"] != evil.NS {
		t.Fatalf("namespace claim %v, want %s", claims["tokenwarden.dev/namespace"], evil.NS)
	}
	// Team B's resource server asks: not active.
	rs, rsSecret := b.Client("payments-api", v1alpha1.OAuthClientSpec{})
	tok, _ := rqWantToken(t, tnClientCredentials(t, id, secret))
	rqInactive(t, rqIntrospect(t, rs, rsSecret, tok["access_token"].(string)))
}

// The legitimate cross-namespace use: team B's resource server introspects a
// token its grant let team A's billing client obtain.
func TestTenantResourceServerIntrospectsGrantedToken(t *testing.T) {
	a, b, aud := tnTeams(t)
	id, secret := a.Client("billing", v1alpha1.OAuthClientSpec{Scopes: []string{"payments.read"}, Audiences: []string{aud}})
	rs, rsSecret := b.Client("payments-api", v1alpha1.OAuthClientSpec{})
	body, _ := rqWantToken(t, tnClientCredentials(t, id, secret))
	r := rqIntrospect(t, rs, rsSecret, body["access_token"].(string))
	if r.Body["active"] != true || r.Body["tokenwarden.dev/namespace"] != a.NS || r.Body["scope"] != "payments.read" {
		t.Fatalf("introspection by the resource's namespace: %s", r.Raw)
	}
	// A third namespace learns nothing.
	other := newFixture(t)
	oc, ocSecret := other.Client("nosy", v1alpha1.OAuthClientSpec{})
	rqInactive(t, rqIntrospect(t, oc, ocSecret, body["access_token"].(string)))
}

func TestTenantSameNamespaceNeedsNoGrant(t *testing.T) {
	f := newFixture(t)
	aud := "https://orders." + f.NS + ".example"
	f.Resource("orders", v1alpha1.OAuthResourceSpec{Audience: aud, Scopes: []string{"orders.read"}})
	id, secret := f.Client("shop", v1alpha1.OAuthClientSpec{Scopes: []string{"orders.read"}, Audiences: []string{aud}})
	_, claims := rqWantToken(t, tnClientCredentials(t, id, secret, "scope", "orders.read", "audience", aud))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) {
		t.Fatalf("aud %v, want %s", got, aud)
	}
	// A resource that opts out of its own namespace grants it nothing.
	no := false
	aud2 := "https://private." + f.NS + ".example"
	f.Resource("private", v1alpha1.OAuthResourceSpec{Audience: aud2, Scopes: []string{"p.read"}, AllowSameNamespace: &no})
	rqWantError(t, tnClientCredentials(t, id, secret, "audience", aud2), http.StatusBadRequest, "invalid_target")
}

func TestTenantNamespaceSelectorGrant(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	aud := "https://reports." + b.NS + ".example"
	b.Resource("reports", v1alpha1.OAuthResourceSpec{
		Audience: aud, Scopes: []string{"reports.read"},
		Grants: []v1alpha1.ResourceGrant{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "finance-" + b.NS}}, Scopes: []string{"reports.read"}}},
	})
	id, secret := a.Client("ledger", v1alpha1.OAuthClientSpec{Scopes: []string{"reports.read"}})
	rqWantError(t, tnClientCredentials(t, id, secret, "audience", aud), http.StatusBadRequest, "invalid_target")
	h.Mem.Directory.PutNamespaceLabels(a.NS, map[string]string{"team": "finance-" + b.NS})
	_, claims := rqWantToken(t, tnClientCredentials(t, id, secret, "audience", aud, "scope", "reports.read"))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) {
		t.Fatalf("aud %v, want %s", got, aud)
	}
}

// A client may not name another client's client_id as its audience.
func TestTenantAnotherClientIsNoAudience(t *testing.T) {
	victim, evil := newFixture(t), newFixture(t)
	vid, _ := victim.Client("api", v1alpha1.OAuthClientSpec{})
	id, secret := evil.Client("x", v1alpha1.OAuthClientSpec{Audiences: []string{vid}})
	rqWantError(t, tnClientCredentials(t, id, secret, "audience", vid), http.StatusBadRequest, "invalid_target")
}

// Attack 2: a client whose client_id is a user's UID does not share the
// user's subject, and its tokens are not the user's at userinfo.
func TestTenantSubjectsNeverCollide(t *testing.T) {
	f := newFixture(t)
	u, pw := f.User("victim", v1alpha1.OAuthUserSpec{})
	pc, pcSecret := f.Client("app", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}, Scopes: []string{"openid"}})
	_, userClaims := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "victim", "password", pw, "scope", "openid"), "Authorization", testhttp.Basic(pc, pcSecret)))

	id, secret := f.Client("squatter", v1alpha1.OAuthClientSpec{ClientID: string(u.UID), Scopes: []string{"openid"}})
	body, claims := rqWantToken(t, tnClientCredentials(t, id, secret))
	if claims["sub"] == userClaims["sub"] || claims["sub"] != tokenserver.ClientSubject(string(u.UID)) {
		t.Fatalf("client sub %v, user sub %v: the spaces must be disjoint", claims["sub"], userClaims["sub"])
	}
	r := send(t, http.MethodGet, "/userinfo", "", nil, "Authorization", "Bearer "+body["access_token"].(string))
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("userinfo with a client's token: %d %s", r.Status, r.Raw)
	}
}

// A withdrawn grant disappears from the next refreshed token.
func TestTenantRefreshRechecksGrants(t *testing.T) {
	a, b, aud := tnTeams(t)
	id, secret := a.Client("billing", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"payments.read"}, Audiences: []string{aud},
	})
	_, pw := a.User("ann", v1alpha1.OAuthUserSpec{})
	basic := testhttp.Basic(id, secret)
	body, claims := rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "password", "username", "ann", "password", pw), "Authorization", basic))
	if got := testhttp.Audiences(claims); !slices.Equal(got, []string{aud}) || claims["scope"] != "payments.read" {
		t.Fatalf("first token: aud %v scope %v", got, claims["scope"])
	}
	b.Resource("payments", v1alpha1.OAuthResourceSpec{Audience: aud, Scopes: []string{"payments.read", "payments.admin"}})
	body, claims = rqWantToken(t, post(t, "/oauth/token", formType, form("grant_type", "refresh_token", "refresh_token", body["refresh_token"].(string)), "Authorization", basic))
	if got := testhttp.Audiences(claims); slices.Contains(got, aud) || claims["scope"] != nil {
		t.Fatalf("after the grant was withdrawn: aud %v scope %v", got, claims["scope"])
	}
	if body["refresh_token"] == "" {
		t.Fatal("the refresh itself must still work for the client's own audience")
	}
}

package tokenserver_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// exTeams: team B's payments resource grants team A's "frontend" both scopes
// and A's "exchanger" only payments.read. Alice of team A signs in through
// the frontend for payments.
type exTeams struct {
	a, b                       *fixture
	aud                        string
	frontend, frontendSecret   string
	exchanger, exchangerSecret string
	aliceToken                 string
}

func newExTeams(t *testing.T) *exTeams {
	x := &exTeams{a: newFixture(t), b: newFixture(t)}
	x.aud = "https://payments." + x.b.NS + ".example"
	x.b.Resource("payments", v1alpha1.OAuthResourceSpec{
		Audience: x.aud, Scopes: []string{"payments.read", "payments.write"},
		Grants: []v1alpha1.ResourceGrant{
			{Clients: []v1alpha1.ClientReference{{Namespace: x.a.NS, Name: "frontend"}}, Scopes: []string{"payments.read", "payments.write"}},
			{Clients: []v1alpha1.ClientReference{{Namespace: x.a.NS, Name: "exchanger"}}, Scopes: []string{"payments.read"}},
		},
	})
	scopes := []string{"payments.read", "payments.write", "own.read"}
	x.frontend, x.frontendSecret = x.a.Client("frontend", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}, Scopes: scopes})
	x.exchanger, x.exchangerSecret = x.a.Client("exchanger", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantTokenExchange}, Scopes: scopes,
	})
	_, pw := x.a.User("alice", v1alpha1.OAuthUserSpec{})
	r := post(t, "/oauth/token", formType, form("grant_type", "password", "username", "alice", "password", pw,
		"scope", "payments.read payments.write", "audience", x.aud), "Authorization", testhttp.Basic(x.frontend, x.frontendSecret))
	if r.Status != http.StatusOK {
		t.Fatalf("alice's token: %d %s", r.Status, r.Raw)
	}
	x.aliceToken = r.Body["access_token"].(string)
	return x
}

// exchange posts a token exchange as id.
func exchange(t testing.TB, id, secret string, kv ...string) response {
	t.Helper()
	return post(t, "/oauth/token", formType, form(append([]string{"grant_type", string(v1alpha1.GrantTokenExchange)}, kv...)...), "Authorization", testhttp.Basic(id, secret))
}

func subjectAccess(tok string) []string {
	return []string{"subject_token", tok, "subject_token_type", tokenserver.TokenTypeAccessToken}
}

func TestTokenExchangeNarrowsToGrantAndSubject(t *testing.T) {
	x := newExTeams(t)
	r := exchange(t, x.exchanger, x.exchangerSecret, append(subjectAccess(x.aliceToken), "audience", x.aud)...)
	if r.Status != http.StatusOK || r.Body["issued_token_type"] != tokenserver.TokenTypeAccessToken || r.Body["token_type"] != "Bearer" {
		t.Fatalf("exchange: %d %s", r.Status, r.Raw)
	}
	subj := testhttp.JWTClaims(t, x.aliceToken)
	claims := testhttp.JWTClaims(t, r.Body["access_token"].(string))
	if claims["sub"] != subj["sub"] || claims["client_id"] != x.exchanger || claims["scope"] != "payments.read" ||
		!slices.Equal(testhttp.Audiences(claims), []string{x.aud}) || claims["act"] != nil {
		t.Fatalf("exchanged token %v: want alice's sub, the exchanger, payments.read only, aud %s, no act", claims, x.aud)
	}
	// payments.write is alice's but not granted to the exchanger.
	rqWantError(t, exchange(t, x.exchanger, x.exchangerSecret, append(subjectAccess(x.aliceToken), "audience", x.aud, "scope", "payments.write")...), http.StatusBadRequest, "invalid_scope")
	// The exchanger's own client_credentials token holds no payments scope
	// for the subject's part: asking for one is invalid_scope.
	own := rqClientToken(t, x.exchanger, x.exchangerSecret, "scope", "own.read")
	rqWantError(t, exchange(t, x.exchanger, x.exchangerSecret, append(subjectAccess(own), "audience", x.aud, "scope", "payments.read")...), http.StatusBadRequest, "invalid_scope")
	// An audience not granted is invalid_target.
	rqWantError(t, exchange(t, x.exchanger, x.exchangerSecret, append(subjectAccess(x.aliceToken), "audience", "https://elsewhere.example")...), http.StatusBadRequest, "invalid_target")
	// The new token is active for the resource's namespace.
	if in := servertest.Introspect(t, issuer, x.exchanger, x.exchangerSecret, r.Body["access_token"].(string)); in["active"] != true {
		t.Fatalf("exchanged token inactive: %v", in)
	}
}

func TestTokenExchangeActorToken(t *testing.T) {
	x := newExTeams(t)
	actor := rqClientToken(t, x.exchanger, x.exchangerSecret, "scope", "own.read")
	r := exchange(t, x.exchanger, x.exchangerSecret, append(subjectAccess(x.aliceToken), "audience", x.aud,
		"actor_token", actor, "actor_token_type", tokenserver.TokenTypeAccessToken)...)
	if r.Status != http.StatusOK {
		t.Fatalf("delegation: %d %s", r.Status, r.Raw)
	}
	claims := testhttp.JWTClaims(t, r.Body["access_token"].(string))
	act, _ := claims["act"].(map[string]any)
	if act["sub"] != tokenserver.ClientSubject(x.exchanger) || claims["sub"] != testhttp.JWTClaims(t, x.aliceToken)["sub"] {
		t.Fatalf("delegated token %v: want act.sub %s", claims, tokenserver.ClientSubject(x.exchanger))
	}
	in := servertest.Introspect(t, issuer, x.exchanger, x.exchangerSecret, r.Body["access_token"].(string))
	if inAct, _ := in["act"].(map[string]any); in["active"] != true || inAct["sub"] != tokenserver.ClientSubject(x.exchanger) {
		t.Fatalf("introspection of a delegated token: %v", in)
	}
	// Exchanging the delegated token again keeps the chain under the new actor.
	r2 := exchange(t, x.exchanger, x.exchangerSecret, append(subjectAccess(r.Body["access_token"].(string)), "audience", x.aud,
		"actor_token", actor, "actor_token_type", tokenserver.TokenTypeAccessToken)...)
	nested, _ := testhttp.JWTClaims(t, r2.Body["access_token"].(string))["act"].(map[string]any)
	if inner, _ := nested["act"].(map[string]any); r2.Status != http.StatusOK || inner["sub"] != tokenserver.ClientSubject(x.exchanger) {
		t.Fatalf("second delegation: %d act %v", r2.Status, nested)
	}
}

func TestTokenExchangeServiceAccountSubject(t *testing.T) {
	x := newExTeams(t)
	sa := h.Mem.Reviews.Issue(x.a.NS, "robot", []string{issuer}, time.Hour)
	r := exchange(t, x.exchanger, x.exchangerSecret, "subject_token", sa, "subject_token_type", tokenserver.TokenTypeJWT, "audience", x.aud)
	if r.Status != http.StatusOK {
		t.Fatalf("ServiceAccount subject: %d %s", r.Status, r.Raw)
	}
	claims := testhttp.JWTClaims(t, r.Body["access_token"].(string))
	if claims["sub"] != "system:serviceaccount:"+x.a.NS+":robot" || claims["scope"] != "payments.read" {
		t.Fatalf("token for the ServiceAccount: %v", claims)
	}
	if in := servertest.Introspect(t, issuer, x.exchanger, x.exchangerSecret, r.Body["access_token"].(string)); in["active"] != true {
		t.Fatalf("exchanged ServiceAccount token inactive: %v", in)
	}
}

// TestTokenExchangeRefusals: every bad exchange is the RFC's error and never
// a token; another namespace's subject is never accepted.
func TestTokenExchangeRefusals(t *testing.T) {
	x := newExTeams(t)
	attacker := newFixture(t)
	aid, asecret := attacker.Client("exchanger", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantTokenExchange}, Scopes: []string{"payments.read"}})
	victimSA := h.Mem.Reviews.Issue(x.a.NS, "robot", []string{issuer}, time.Hour)
	apiSA := h.Mem.Reviews.Issue(x.a.NS, "robot", []string{apiServerAudience}, time.Hour)
	plainID, plainSecret := x.a.Client("plain", v1alpha1.OAuthClientSpec{Scopes: []string{"payments.read"}})
	cases := []struct {
		name, id, secret string
		kv               []string
		status           int
		code             string
	}{
		{"another namespace's access token", aid, asecret, subjectAccess(x.aliceToken), 400, "invalid_request"},
		{"another namespace's ServiceAccount", aid, asecret, []string{"subject_token", victimSA, "subject_token_type", tokenserver.TokenTypeJWT}, 400, "invalid_request"},
		{"a ServiceAccount token for the API server", x.exchanger, x.exchangerSecret, []string{"subject_token", apiSA, "subject_token_type", tokenserver.TokenTypeJWT}, 400, "invalid_request"},
		{"another namespace's actor", aid, asecret, []string{"subject_token", rqClientToken(t, aid, asecret), "subject_token_type", tokenserver.TokenTypeAccessToken, "actor_token", x.aliceToken, "actor_token_type", tokenserver.TokenTypeAccessToken}, 400, "invalid_request"},
		{"a forged subject", x.exchanger, x.exchangerSecret, subjectAccess(forgedServiceAccountToken(t, x.a.NS, "robot", jose.RS256)), 400, "invalid_request"},
		{"no subject_token_type", x.exchanger, x.exchangerSecret, []string{"subject_token", x.aliceToken}, 400, "invalid_request"},
		{"an unknown subject_token_type", x.exchanger, x.exchangerSecret, []string{"subject_token", x.aliceToken, "subject_token_type", "urn:example:saml"}, 400, "invalid_request"},
		{"actor_token without its type", x.exchanger, x.exchangerSecret, append(subjectAccess(x.aliceToken), "actor_token", x.aliceToken), 400, "invalid_request"},
		{"a refresh token asked for", x.exchanger, x.exchangerSecret, append(subjectAccess(x.aliceToken), "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 400, "invalid_request"},
		{"a client without the grant", plainID, plainSecret, subjectAccess(x.aliceToken), 400, "unauthorized_client"},
		{"a wrong client secret", x.exchanger, "wrong", subjectAccess(x.aliceToken), 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, tc.id, tc.secret, tc.kv...)
			if r.Status != tc.status || r.Body["error"] != tc.code || r.Body["access_token"] != nil {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, tc.status, tc.code)
			}
		})
	}
}

// rqClientToken is a client_credentials access token of id.
func rqClientToken(t testing.TB, id, secret string, kv ...string) string {
	t.Helper()
	r := post(t, "/oauth/token", formType, form(append([]string{"grant_type", "client_credentials"}, kv...)...), "Authorization", testhttp.Basic(id, secret))
	tok, _ := r.Body["access_token"].(string)
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials for %s: %d %s", id, r.Status, r.Raw)
	}
	return tok
}

package tokenserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// apiServerAudience is the audience of a pod's default token: the API
// server's own.
const apiServerAudience = "https://kubernetes.default.svc.cluster.local"

// saClient registers a client that the ServiceAccounts sas of the fixture's
// namespace authenticate as, with no static secret.
func saClient(f *fixture, name string, sas ...string) string {
	f.T.Helper()
	id, secret := f.Client(name, v1alpha1.OAuthClientSpec{
		Scopes: []string{"read", "write"},
		Authentication: &v1alpha1.ClientAuthentication{
			ServiceAccounts: sas, ClientSecret: v1alpha1.ClientSecretNone,
		},
	})
	if secret != "" {
		f.T.Fatalf("a client without a static secret got one")
	}
	return id
}

// assertionForm is a client_credentials request authenticated with assertion.
func assertionForm(assertion string, kv ...string) string {
	return form(append([]string{
		"grant_type", "client_credentials",
		"client_assertion_type", tokenserver.AssertionTypeJWTBearer, "client_assertion", assertion,
	}, kv...)...)
}

// wantInvalidClient fails unless r is 401 invalid_client with a challenge
// and no token.
func wantInvalidClient(t testing.TB, r response, what string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" || r.Header.Get("WWW-Authenticate") == "" || r.Body["access_token"] != nil {
		t.Fatalf("%s: got %d %s, want 401 invalid_client with WWW-Authenticate", what, r.Status, r.Raw)
	}
}

func TestServiceAccountTokenAuthenticatesAsClient(t *testing.T) {
	f := newFixture(t)
	id := saClient(f, "robot-client", "robot")
	sa := h.Mem.Reviews.Issue(f.NS, "robot", []string{issuer}, time.Hour)
	for _, kv := range [][]string{nil, {"client_id", id}} {
		r := post(t, "/oauth/token", formType, assertionForm(sa, kv...))
		if r.Status != http.StatusOK {
			t.Fatalf("client_id %v: got %d %s", kv, r.Status, r.Raw)
		}
		claims := testhttp.JWTClaims(t, r.Body["access_token"].(string))
		if claims["client_id"] != id || claims["sub"] != tokenserver.ClientSubject(id) {
			t.Fatalf("token of %v, want client %s", claims, id)
		}
	}
	// The per-client URL names the client too.
	r := post(t, "/clients/"+f.NS+"/robot-client/token", formType, assertionForm(sa))
	if r.Status != http.StatusOK {
		t.Fatalf("per-client URL: got %d %s", r.Status, r.Raw)
	}
}

func TestServiceAccountAssertionRefusals(t *testing.T) {
	f := newFixture(t)
	id := saClient(f, "robot-client", "robot")
	other := newFixture(t)
	saClient(other, "robot-client", "robot")
	otherID, _ := f.Client("plain", v1alpha1.OAuthClientSpec{})
	rv := h.Mem.Reviews
	now := time.Now()
	h.Mem.Reviews.DeleteServiceAccount(f.NS, "deleted")
	f.Client("deleted-client", v1alpha1.OAuthClientSpec{Authentication: &v1alpha1.ClientAuthentication{ServiceAccounts: []string{"deleted"}}})
	cases := []struct {
		name, assertion string
		kv              []string
	}{
		{"expired", rv.IssueFrom(f.NS, "robot", []string{issuer}, now.Add(-2*time.Hour), now.Add(-time.Hour)), nil},
		{"not yet valid", rv.IssueFrom(f.NS, "robot", []string{issuer}, now.Add(10*time.Minute), now.Add(time.Hour)), nil},
		{"the API server's audience", rv.Issue(f.NS, "robot", []string{apiServerAudience}, time.Hour), nil},
		{"the API server's audience beside ours", rv.Issue(f.NS, "robot", []string{issuer, apiServerAudience}, time.Hour), nil},
		{"a ServiceAccount of another namespace", rv.Issue(other.NS, "robot", []string{issuer}, time.Hour), []string{"client_id", id}},
		{"a ServiceAccount the client does not list", rv.Issue(f.NS, "intruder", []string{issuer}, time.Hour), []string{"client_id", id}},
		{"a client that lists no ServiceAccount", rv.Issue(f.NS, "robot", []string{issuer}, time.Hour), []string{"client_id", otherID}},
		{"a deleted ServiceAccount", rv.Issue(f.NS, "deleted", []string{issuer}, time.Hour), nil},
		{"a forged token", forgedServiceAccountToken(t, f.NS, "robot", jose.RS256), nil},
		{"HMAC", forgedServiceAccountToken(t, f.NS, "robot", jose.HS256), nil},
		{"alg none", unsignedToken(f.NS, "robot"), nil},
		{"not a JWT", "not-a-jwt", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalidClient(t, post(t, "/oauth/token", formType, assertionForm(tc.assertion, tc.kv...)), tc.name)
		})
	}
	sa := rv.Issue(f.NS, "robot", []string{issuer}, time.Hour)
	t.Run("unknown assertion type", func(t *testing.T) {
		r := post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_assertion_type", "urn:example:saml", "client_assertion", sa))
		wantInvalidClient(t, r, "assertion type")
	})
	t.Run("assertion and Basic", func(t *testing.T) {
		r := post(t, "/oauth/token", formType, assertionForm(sa), "Authorization", testhttp.Basic(id, "x"))
		servertest.WantError(t, r, http.StatusBadRequest, "invalid_request", "two methods")
	})
	t.Run("no secret for a secretless client", func(t *testing.T) {
		r := post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", ""))
		wantInvalidClient(t, r, "empty secret")
	})
}

// TestServiceAccountTwoClientsNeedClientID: a ServiceAccount two clients
// list must say which one it acts as.
func TestServiceAccountTwoClientsNeedClientID(t *testing.T) {
	f := newFixture(t)
	saClient(f, "a", "robot")
	b := saClient(f, "b", "robot")
	sa := h.Mem.Reviews.Issue(f.NS, "robot", []string{issuer}, time.Hour)
	wantInvalidClient(t, post(t, "/oauth/token", formType, assertionForm(sa)), "no client_id")
	r := post(t, "/oauth/token", formType, assertionForm(sa, "client_id", b))
	if r.Status != http.StatusOK || testhttp.JWTClaims(t, r.Body["access_token"].(string))["client_id"] != b {
		t.Fatalf("with client_id: %d %s", r.Status, r.Raw)
	}
}

// TestServiceAccountReviewsPerToken: one token used 1,000 times costs one
// TokenReview.
func TestServiceAccountReviewsPerToken(t *testing.T) {
	f := newFixture(t)
	saClient(f, "robot-client", "robot")
	sa := h.Mem.Reviews.Issue(f.NS, "robot", []string{issuer}, time.Hour)
	before := h.Mem.Reviews.Calls()
	for i := range 1000 {
		if r := post(t, "/oauth/token", formType, assertionForm(sa)); r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if n := h.Mem.Reviews.Calls() - before; n != 1 {
		t.Fatalf("%d TokenReviews for 1,000 requests with one token, want 1", n)
	}
}

// TestServiceAccountDeletedWithinReviewTTL: a cached review outlives the
// ServiceAccount by at most ServiceAccountReviewTTL.
func TestServiceAccountDeletedWithinReviewTTL(t *testing.T) {
	base := startServer(t, tokenserver.Options{Issuer: issuer, ServiceAccountReviewTTL: 300 * time.Millisecond})
	f := newFixture(t)
	saClient(f, "robot-client", "robot")
	sa := h.Mem.Reviews.Issue(f.NS, "robot", []string{issuer}, time.Hour)
	if r := testhttp.Post(t, base+"/oauth/token", formType, assertionForm(sa)); r.Status != http.StatusOK {
		t.Fatalf("before deletion: %d %s", r.Status, r.Raw)
	}
	h.Mem.Reviews.DeleteServiceAccount(f.NS, "robot")
	deleted := time.Now()
	eventually(t, func() int {
		return testhttp.Post(t, base+"/oauth/token", formType, assertionForm(sa)).Status
	}).Should(gomegaEqual(http.StatusUnauthorized))
	if d := time.Since(deleted); d > 2*time.Second {
		t.Fatalf("the deleted ServiceAccount authenticated for %s", d)
	}
}

// TestServiceAccountAtIntrospectionAndRevocation: the same assertion
// authenticates the client at RFC 7662 and RFC 7009.
func TestServiceAccountAtIntrospectionAndRevocation(t *testing.T) {
	f := newFixture(t)
	saClient(f, "robot-client", "robot")
	sa := h.Mem.Reviews.Issue(f.NS, "robot", []string{issuer}, time.Hour)
	r := post(t, "/oauth/token", formType, assertionForm(sa))
	at, _ := r.Body["access_token"].(string)
	auth := []string{"client_assertion_type", tokenserver.AssertionTypeJWTBearer, "client_assertion", sa}
	in := post(t, "/oauth/introspect", formType, form(append([]string{"token", at}, auth...)...))
	if in.Status != http.StatusOK || in.Body["active"] != true {
		t.Fatalf("introspect: %d %s", in.Status, in.Raw)
	}
	if rv := post(t, "/oauth/revoke", formType, form(append([]string{"token", at}, auth...)...)); rv.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", rv.Status, rv.Raw)
	}
	in = post(t, "/oauth/introspect", formType, form(append([]string{"token", at}, auth...)...))
	if in.Body["active"] != false {
		t.Fatalf("revoked token still active: %s", in.Raw)
	}
	bad := h.Mem.Reviews.Issue(f.NS, "robot", []string{apiServerAudience}, time.Hour)
	wantInvalidClient(t, post(t, "/oauth/introspect", formType, form("token", at, "client_assertion_type", tokenserver.AssertionTypeJWTBearer, "client_assertion", bad)), "introspect")
	wantInvalidClient(t, post(t, "/oauth/revoke", formType, form("token", at, "client_assertion_type", tokenserver.AssertionTypeJWTBearer, "client_assertion", bad)), "revoke")
}

// forgedServiceAccountToken is a well-formed ServiceAccount token for our
// audience signed with a key the API server never had.
func forgedServiceAccountToken(t testing.TB, ns, name string, alg jose.SignatureAlgorithm) string {
	t.Helper()
	var key any = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if alg != jose.HS256 {
		key = newRSAKey(t)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{
		Subject: "system:serviceaccount:" + ns + ":" + name, Audience: jwt.Audience{issuer},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedToken is an alg=none JWT (RFC 7519 §6).
func unsignedToken(ns, name string) string {
	enc := func(s string) string { return strings.TrimRight(b64url(s), "=") }
	exp := time.Now().Add(time.Hour).Unix()
	return enc(`{"alg":"none","typ":"JWT"}`) + "." +
		enc(`{"sub":"system:serviceaccount:`+ns+`:`+name+`","aud":["`+issuer+`"],"exp":`+itoa(exp)+`}`) + "."
}

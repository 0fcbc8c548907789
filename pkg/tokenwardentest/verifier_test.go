package tokenwardentest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/pkg/tokenwardentest"
	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

const apiAudience = "https://api.example.com"

// billing creates a confidential client allowed client_credentials and the
// password grant, for two audiences, and a user.
func billing(t *testing.T) (*tokenwardentest.ClientCredentials, *tokenwardentest.UserCredentials) {
	t.Helper()
	ns := namespace(t)
	ctx := context.Background()
	creds, err := tw.CreateClient(ctx, &v1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "billing"},
		Spec: v1alpha1.OAuthClientSpec{
			GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
			Scopes:     []string{"invoices.read", "invoices.write", "openid", "offline_access"},
			Audiences:  []string{apiAudience, "https://other.example.com"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	user, err := tw.CreateUser(ctx, &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	return creds, user
}

func clientToken(t *testing.T, c *tokenwardentest.ClientCredentials, audience string, scopes ...string) string {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: c.TokenURL, Scopes: scopes}
	if audience != "" {
		cfg.EndpointParams = map[string][]string{"audience": {audience}}
	}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestHarnessClientCredentialsAndVerifier is the harness's basic use: a
// client, a token from x/oauth2, a resource server with pkg/verifier.
func TestHarnessClientCredentialsAndVerifier(t *testing.T) {
	creds, _ := billing(t)
	if creds.Issuer != tw.IssuerURL || creds.ClientSecret == "" {
		t.Fatalf("credentials = %+v", creds)
	}
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: tw.IssuerURL, Audience: []string{apiAudience}})
	if err != nil {
		t.Fatal(err)
	}
	srv := api(t, v)
	tok := clientToken(t, creds, apiAudience, "invoices.read")
	if status, _ := call(t, srv.URL+"/read", tok); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
}

// TestVerifierRefusesOverHTTP sends the verifier every kind of token that
// must not pass, as issued by the running token server.
func TestVerifierRefusesOverHTTP(t *testing.T) {
	creds, user := billing(t)
	ctx := context.Background()
	// The client's own id is an accepted audience too, so that the id_token
	// is refused for what it is (typ), not for its audience.
	cfg := verifier.Config{Issuer: tw.IssuerURL, Audience: []string{apiAudience, creds.ClientID}}
	v, err := verifier.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := api(t, v)
	// An hour and a half later, every token of now has expired.
	later := cfg
	later.Clock = clocktesting.NewFakePassiveClock(time.Now().Add(90 * time.Minute))
	vLater, err := verifier.New(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	// A verifier for another issuer that trusts the same keys: only iss differs.
	other := otherIssuer(t)
	vOther, err := verifier.New(ctx, verifier.Config{Issuer: other, Audience: []string{apiAudience}})
	if err != nil {
		t.Fatal(err)
	}

	valid := clientToken(t, creds, apiAudience, "invoices.read")
	pw := passwordTokens(t, creds, user)
	tests := []struct {
		name   string
		srv    string
		path   string
		token  string
		status int
		error  string
		why    string // in error_description
	}{
		{"valid", srv.URL, "/read", valid, 200, "", ""},
		{"another audience", srv.URL, "/read", clientToken(t, creds, "https://other.example.com", "invoices.read"), 401, "invalid_token", "audience"},
		{"another issuer", api(t, vOther).URL, "/read", valid, 401, "invalid_token", "another issuer"},
		{"id_token", srv.URL, "/read", pw.Extra("id_token").(string), 401, "invalid_token", "typ must be at+jwt"},
		{"refresh token", srv.URL, "/read", pw.RefreshToken, 401, "invalid_token", "not a JWS"},
		{"alg none", srv.URL, "/read", algNone(t, valid), 401, "invalid_token", "not a JWS with an accepted algorithm"},
		{"expired", api(t, vLater).URL, "/read", valid, 401, "invalid_token", "expired"},
		{"wrong scope", srv.URL, "/write", valid, 403, "insufficient_scope", "lacks a scope"},
		{"user's access token", srv.URL, "/read", pw.AccessToken, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, challenge := call(t, tt.srv+tt.path, tt.token)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%s)", status, tt.status, challenge)
			}
			if tt.error != "" && (!strings.Contains(challenge, fmt.Sprintf("error=%q", tt.error)) || !strings.Contains(challenge, tt.why)) {
				t.Errorf("WWW-Authenticate = %q, want error=%q for %q", challenge, tt.error, tt.why)
			}
		})
	}
}

// passwordTokens signs alice in through the client with openid and
// offline_access: an access token, an id_token and a refresh token.
func passwordTokens(t *testing.T, c *tokenwardentest.ClientCredentials, u *tokenwardentest.UserCredentials) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "offline_access", "invoices.read"},
	}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), u.Username, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.Extra("id_token").(string); !ok || tok.RefreshToken == "" {
		t.Fatalf("no id_token or refresh token in %+v", tok)
	}
	return tok
}

// algNone re-encodes a token's header with alg none and drops the signature.
func algNone(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	h["alg"] = "none"
	b, _ := json.Marshal(h)
	return base64.RawURLEncoding.EncodeToString(b) + "." + parts[1] + "."
}

// otherIssuer serves a discovery document for another issuer URL that
// points at the real token server's JWKS.
func otherIssuer(t *testing.T) string {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "jwks_uri": tw.IssuerURL + "/.well-known/jwks.json",
			"id_token_signing_alg_values_supported": []string{"ES256", "RS256"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestVerifierAcrossKeyRotation: a requested rotation costs the verifier no
// fetch (the new key was published ahead); after a compromised-key removal,
// new tokens verify with one refetch and tokens of the removed key are
// refused.
func TestVerifierAcrossKeyRotation(t *testing.T) {
	creds, _ := billing(t)
	ctx := context.Background()
	counter := &countingTransport{}
	clk := clocktesting.NewFakePassiveClock(time.Now())
	v, err := verifier.New(ctx, verifier.Config{
		Issuer: tw.IssuerURL, Audience: []string{apiAudience},
		HTTPClient: &http.Client{Transport: counter}, Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := api(t, v)
	expect := func(token string, status int, fetches int64) {
		t.Helper()
		if got, challenge := call(t, srv.URL+"/read", token); got != status {
			t.Fatalf("status %d, want %d (%s)", got, status, challenge)
		}
		if n := counter.jwks.Load(); n != fetches {
			t.Fatalf("%d JWKS fetches, want %d", n, fetches)
		}
	}
	first := clientToken(t, creds, apiAudience, "invoices.read")
	expect(first, 200, 1)

	if err := tw.RotateSigningKeys(ctx, false); err != nil {
		t.Fatal(err)
	}
	second := clientToken(t, creds, apiAudience, "invoices.read")
	if kid(t, second) == kid(t, first) {
		t.Fatal("the rotation did not change the signing key")
	}
	expect(second, 200, 1)
	expect(first, 200, 1) // the retired key stays published

	// Later than the refetch interval, the key of second leaks.
	clk.SetTime(clk.Now().Add(time.Minute))
	if err := tw.RotateSigningKeys(ctx, true); err != nil {
		t.Fatal(err)
	}
	third := clientToken(t, creds, apiAudience, "invoices.read")
	expect(third, 200, 2)  // one refetch for the new kid
	expect(second, 401, 2) // removed key: refused, no further fetch
	expect(first, 200, 2)  // the retired key was not compromised
}

func kid(t *testing.T, token string) string {
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

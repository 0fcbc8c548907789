package tokenserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// accessClaims verifies an access token's signature with the published JWKS
// (through go-oidc's key set) and returns its header typ and claims.
func accessClaims(t *testing.T, tok string) (string, map[string]any) {
	t.Helper()
	ks := oidc.NewRemoteKeySet(context.Background(), issuer+"/.well-known/jwks.json")
	payload, err := ks.VerifySignature(context.Background(), tok)
	if err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]any
	_ = json.Unmarshal(hdr, &h)
	typ, _ := h["typ"].(string)
	return typ, claims
}

func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	f := newFixture(t)
	api := "https://api.example.com/" + f.NS
	f.Resource("orders", v1alpha1.OAuthResourceSpec{Audience: api, Scopes: []string{"orders.read", "orders.write"}})
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{
		Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{api},
	})
	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: issuer + "/oauth/token", Scopes: []string{"orders.read"}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Fatal("client_credentials must not issue a refresh token (RFC 6749 §4.4.3)")
	}
	if d := time.Until(tok.Expiry); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiry in %v, want about 1h", d)
	}
	typ, claims := accessClaims(t, tok.AccessToken)
	if typ != "at+jwt" {
		t.Fatalf("typ %q", typ)
	}
	for k, want := range map[string]any{"iss": issuer, "sub": "client:" + id, "client_id": id, "scope": "orders.read", "aud": api} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	for _, k := range []string{"exp", "iat", "nbf", "jti"} {
		if claims[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}
	// Basic auth (the library's default style) and body credentials both work.
	cfg.AuthStyle = oauth2.AuthStyleInParams
	if _, err := cfg.Token(context.Background()); err != nil {
		t.Fatalf("client_secret_post: %v", err)
	}
}

func TestPasswordGrantWithOpenIDAndRefresh(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("portal", v1alpha1.OAuthClientSpec{
		GrantTypes:                 []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:                     []string{"openid", "profile", "email", "offline_access", "reports.read"},
		IncludeUserInTokenResponse: true,
	})
	u, pw := f.User("alice", v1alpha1.OAuthUserSpec{Email: "alice@example.com", DisplayName: "Alice", Groups: []string{"admins"}})
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token"},
		Scopes: []string{"openid", "profile", "email", "offline_access"}}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), "alice", pw)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}
	user, _ := tok.Extra("user").(map[string]any)
	if user["username"] != "alice" || user["uid"] != string(u.UID) {
		t.Fatalf("user object %v", tok.Extra("user"))
	}
	if ms, _ := tok.Extra("issued_at").(float64); time.Since(time.UnixMilli(int64(ms))) > time.Minute {
		t.Fatalf("issued_at %v", tok.Extra("issued_at"))
	}
	provider, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: id}).Verify(context.Background(), rawID)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var claims struct {
		Email, Name string
		Groups      []string
		Username    string `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "alice@example.com" || claims.Name != "Alice" || claims.Username != "alice" {
		t.Fatalf("claims %+v %v", claims, err)
	}
	if idt.Subject != string(u.UID) {
		t.Fatalf("sub %q, want the user's UID", idt.Subject)
	}

	// The token source refreshes on expiry, and the refresh token rotates.
	old := *tok
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := cfg.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh through the token source: %v", err)
	}
	if next.AccessToken == old.AccessToken || next.RefreshToken == old.RefreshToken || next.RefreshToken == "" {
		t.Fatal("refresh did not rotate the tokens")
	}

	// Without offline_access an OpenID request gets no refresh token.
	cfg.Scopes = []string{"openid"}
	plain, err := cfg.PasswordCredentialsToken(context.Background(), "alice", pw)
	if err != nil || plain.RefreshToken != "" {
		t.Fatalf("openid without offline_access: refresh %q, err %v", plain.RefreshToken, err)
	}
}

func TestPasswordGrantWithHashAndSecretRefUsers(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("cli", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	f.User("hashed", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: bcryptOf(t, "correct horse")}})
	f.Create(secretWith("bob-pw", map[string]string{"pw": "from my own secret"}))
	f.User("bob", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{SecretRef: &v1alpha1.PasswordSecretRef{Name: "bob-pw", Key: "pw"}}})
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token"}}
	for _, c := range []struct{ user, pw string }{{"hashed", "correct horse"}, {"hashed", "correct horse"}, {"bob", "from my own secret"}} {
		if _, err := cfg.PasswordCredentialsToken(context.Background(), c.user, c.pw); err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
	}
	if _, err := cfg.PasswordCredentialsToken(context.Background(), "hashed", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

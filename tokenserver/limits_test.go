package tokenserver_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// TestFamilyCap: a user has at most MaxFamiliesPerUser live refresh families
// with one client. One more sign-in is refused with a clear error and
// nothing is lost: the existing sessions keep refreshing, an authorization
// code refused at the cap is not spent, other users and clients are not
// affected, a request that starts no family passes, and revoking a session
// makes room.
func TestFamilyCap(t *testing.T) {
	base := startServer(t, tokenserver.Options{MaxFamiliesPerUser: 2})
	f := newFixture(t)
	spec := v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken, v1alpha1.GrantAuthorizationCode},
		Scopes:     []string{"openid", "offline_access"},
	}
	app, appSecret, appObj := f.H.Client(f.NS, "app", spec)
	web, webSecret := f.Client("web", spec)
	judy, pw := f.User("judy", v1alpha1.OAuthUserSpec{})
	_, kimPW := f.User("kim", v1alpha1.OAuthUserSpec{})
	token := func(id, secret string, kv ...string) response {
		t.Helper()
		return testhttp.Post(t, base+"/oauth/token", formType, form(kv...), "Authorization", testhttp.Basic(id, secret))
	}
	signIn := func(id, secret, user, pw string) response {
		t.Helper()
		return token(id, secret, "grant_type", "password", "username", user, "password", pw, "scope", "offline_access")
	}
	var sessions []string
	for range 2 {
		body, _ := rqWantToken(t, signIn(app, appSecret, "judy", pw))
		sessions = append(sessions, body["refresh_token"].(string))
	}
	r := signIn(app, appSecret, "judy", pw)
	rqWantError(t, r, http.StatusBadRequest, "invalid_request")
	if !strings.Contains(r.Body["error_description"].(string), "too many active sessions") {
		t.Fatalf("description does not name the cap: %s", r.Raw)
	}
	// Nothing lost: both sessions still refresh (rotation starts no family).
	for i, rt := range sessions {
		body, _ := rqWantToken(t, token(app, appSecret, "grant_type", "refresh_token", "refresh_token", rt))
		sessions[i] = body["refresh_token"].(string)
	}
	// Per user and client.
	rqWantToken(t, signIn(app, appSecret, "kim", kimPW))
	rqWantToken(t, signIn(web, webSecret, "judy", pw))
	// An OpenID sign-in without offline_access starts no family: allowed.
	body, _ := rqWantToken(t, token(app, appSecret, "grant_type", "password", "username", "judy", "password", pw, "scope", "openid"))
	if body["refresh_token"] != nil {
		t.Fatalf("a refresh token without offline_access: %v", body)
	}
	// A code whose exchange would pass the cap is refused before it is
	// spent: once a session is revoked, the same code works.
	code := putCode(t, f.NS, appObj, judy, []string{"openid", "offline_access"})
	redeem := func() response {
		return token(app, appSecret, "grant_type", "authorization_code", "code", code, "redirect_uri", "https://app.example/cb")
	}
	rqWantError(t, redeem(), http.StatusBadRequest, "invalid_request")
	r = testhttp.Post(t, base+"/oauth/revoke", formType, form("token", sessions[0]), "Authorization", testhttp.Basic(app, appSecret))
	if r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	body, _ = rqWantToken(t, redeem())
	if body["refresh_token"] == nil {
		t.Fatalf("the code redeemed at last gave no refresh token: %v", body)
	}
	rqWantError(t, signIn(app, appSecret, "judy", pw), http.StatusBadRequest, "invalid_request")
}

// putCode stores a pending authorization code for user and client, as the
// browser flow would, and returns the code.
func putCode(t *testing.T, ns string, c *v1alpha1.OAuthClient, u *v1alpha1.OAuthUser, scopes []string) string {
	t.Helper()
	code := "twc_" + strings.Repeat("k", 43) + ns
	sum := sha256.Sum256([]byte(code))
	now := time.Now()
	rec := &store.AuthCode{
		Digest: hex.EncodeToString(sum[:]), ClientUID: c.UID, UserUID: u.UID,
		RedirectURI: "https://app.example/cb", RedirectURIGiven: true, Scopes: scopes,
		AuthTime: now, ExpiresAt: now.Add(5 * time.Minute),
	}
	owner := store.Owner{UserName: u.Name, UserUID: u.UID, ClientName: c.Name, ClientUID: c.UID}
	if err := h.Mem.Codes.Create(context.Background(), ns, hex.EncodeToString(sum[:20]), rec, owner); err != nil {
		t.Fatal(err)
	}
	return code
}

// TestRevocationCap: a client has at most MaxRevocationsPerClient revoked
// access tokens on record. One more revocation is answered 503
// temporarily_unavailable (RFC 7009 §2.2.1: the token still exists) and the
// token stays active; nothing recorded is dropped; revoking a revoked token
// again is fine; other clients are not affected; once records are collected
// the revocation goes through.
func TestRevocationCap(t *testing.T) {
	base := startServer(t, tokenserver.Options{MaxRevocationsPerClient: 2})
	f := newFixture(t)
	spec := v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}}
	a, aSecret := f.Client("a", spec)
	b, bSecret := f.Client("b", spec)
	issue := func(id, secret string) string {
		t.Helper()
		body, _ := rqWantToken(t, testhttp.Post(t, base+"/oauth/token", formType,
			form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(id, secret)))
		return body["access_token"].(string)
	}
	revoke := func(id, secret, tok string) response {
		t.Helper()
		return testhttp.Post(t, base+"/oauth/revoke", formType, form("token", tok), "Authorization", testhttp.Basic(id, secret))
	}
	toks := []string{issue(a, aSecret), issue(a, aSecret), issue(a, aSecret)}
	for _, tok := range toks[:2] {
		if r := revoke(a, aSecret, tok); r.Status != http.StatusOK {
			t.Fatalf("revoke under the cap: %d %s", r.Status, r.Raw)
		}
	}
	r := revoke(a, aSecret, toks[2])
	rqWantError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if got := rqIntrospect(t, a, aSecret, toks[2]); got.Body["active"] != true {
		t.Fatalf("a refused revocation is reported done: %s", got.Raw)
	}
	for _, tok := range toks[:2] {
		rqInactive(t, rqIntrospect(t, a, aSecret, tok))
		if r := revoke(a, aSecret, tok); r.Status != http.StatusOK {
			t.Fatalf("revoking a revoked token again at the cap: %d %s", r.Status, r.Raw)
		}
	}
	if r := revoke(b, bSecret, issue(b, bSecret)); r.Status != http.StatusOK {
		t.Fatalf("another client at a's cap: %d %s", r.Status, r.Raw)
	}
	if _, err := h.Mem.Revocations.Collect(context.Background(), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := revoke(a, aSecret, toks[2]); r.Status != http.StatusOK {
		t.Fatalf("revoke after collection: %d %s", r.Status, r.Raw)
	}
	rqInactive(t, rqIntrospect(t, a, aSecret, toks[2]))
}

package browser_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

const returnURI = "https://app.example/signed-out"

// logoutClient is a code-flow client with a registered post-logout redirect
// URI.
func logoutClient(f *fixture, name string) oauth2.Config {
	redirect := "http://127.0.0.1:8080/callback"
	id, secret := f.Client(name, v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantPassword},
		Scopes:     []string{"openid"}, RedirectURIs: []string{redirect}, PostLogoutRedirectURIs: []string{returnURI},
	})
	return oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth/authorize", TokenURL: issuer + "/oauth/token"}}
}

// signInForIDToken signs user in on b through cfg and returns the id_token.
func signInForIDToken(t *testing.T, b *browser, cfg oauth2.Config, user, pw string) string {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	loc := b.SignIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), user, pw)
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Extra("id_token").(string)
}

// logoutURL is a logout request with the parameters kv.
func logoutURL(base string, kv ...string) string {
	return base + "/oauth/logout?" + maps(url.Values{}, kv...).Encode()
}

// wantSignedIn checks whether b's session still answers cfg's requests.
func wantSignedIn(t *testing.T, b *browser, cfg oauth2.Config, want bool) {
	t.Helper()
	p := b.Get(cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	signedIn := p.Status == http.StatusFound && p.Location != nil && p.Location.Query().Get("code") != ""
	if signedIn != want {
		t.Fatalf("signed in: %v, want %v (%d %v)", signedIn, want, p.Status, p.Location)
	}
	if !want {
		servertest.LoginFields(t, p)
	}
}

// TestLogoutEndsSession: a logout with the id_token_hint of the signed-in
// user ends the session at once and returns to the registered URI with
// state; the next authorization asks for the login again.
func TestLogoutEndsSession(t *testing.T) {
	f := newFixture(t)
	cfg := logoutClient(f, "app")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	b := newBrowser(t)
	hint := signInForIDToken(t, b, cfg, "alice", pw)
	wantSignedIn(t, b, cfg, true)

	p := b.Get(logoutURL(issuer, "id_token_hint", hint, "post_logout_redirect_uri", returnURI, "state", "bye&1", "client_id", cfg.ClientID))
	if p.Status != http.StatusFound || p.Location == nil || p.Location.Host != "app.example" || p.Location.Query().Get("state") != "bye&1" {
		t.Fatalf("logout: %d %v\n%s", p.Status, p.Location, p.Body)
	}
	wantSignedIn(t, b, cfg, false)
	// POST works the same (§2).
	b.SignIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", pw)
	if p := b.PostForm(issuer+"/oauth/logout", url.Values{"id_token_hint": {hint}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") {
		t.Fatalf("POST logout: %d %v\n%s", p.Status, p.Location, p.Body)
	}
	wantSignedIn(t, b, cfg, false)
}

// TestLogoutAsksWithoutHint: a link to the logout endpoint without a hint
// for the signed-in user (any page could embed one) only asks; the form
// signs out, and only from this browser's own page.
func TestLogoutAsksWithoutHint(t *testing.T) {
	f := newFixture(t)
	cfg := logoutClient(f, "app")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	_, bobPW := f.User("bob", v1alpha1.OAuthUserSpec{})
	bobHint := signInForIDToken(t, newBrowser(t), cfg, "bob", bobPW)
	b := newBrowser(t)
	signInForIDToken(t, b, cfg, "alice", pw)

	for _, u := range []string{logoutURL(issuer), logoutURL(issuer, "id_token_hint", bobHint)} {
		p := b.Get(u)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "Sign out?") {
			t.Fatalf("want the sign-out question, got %d %v\n%s", p.Status, p.Location, p.Body)
		}
		wantSignedIn(t, b, cfg, true)
	}
	// The attacker's own sign-out form, from a browser signed in as bob.
	attacker := newBrowser(t)
	signInForIDToken(t, attacker, cfg, "bob", bobPW)
	forged := formFieldsOf(t, attacker.Get(logoutURL(issuer)))
	if p := b.PostForm(issuer+"/oauth/logout", forged); p.Status != http.StatusForbidden {
		t.Fatalf("another browser's form: %d", p.Status)
	}
	b.SetCookie(issuer, "tw_logout", strings.Repeat("A", 43))
	if p := b.PostForm(issuer+"/oauth/logout", forged); p.Status != http.StatusForbidden {
		t.Fatalf("planted nonce: %d", p.Status)
	}
	b.SetCookie(issuer, "tw_logout", attacker.Cookie(issuer, "tw_logout"))
	if p := b.PostForm(issuer+"/oauth/logout", forged, "Sec-Fetch-Site", "cross-site"); p.Status != http.StatusForbidden {
		t.Fatalf("cross-site submission with a planted minted nonce: %d", p.Status)
	}
	form := formFieldsOf(t, b.Get(logoutURL(issuer)))
	wantSignedIn(t, b, cfg, true)
	if p := b.PostForm(issuer+"/oauth/logout", form, "Sec-Fetch-Site", "same-origin"); p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") {
		t.Fatalf("confirmed: %d %v\n%s", p.Status, p.Location, p.Body)
	}
	wantSignedIn(t, b, cfg, false)
}

// formFieldsOf are the hidden fields of any page's form.
func formFieldsOf(t *testing.T, p page) url.Values {
	t.Helper()
	v := testhttp.HiddenFields(p.Body)
	if v.Get("csrf_token") == "" {
		t.Fatalf("no form: %d\n%s", p.Status, p.Body)
	}
	return v
}

// TestLogoutRedirectOnlyRegistered: the browser returns only to a URI
// registered on the client the hint was issued to; otherwise it is signed
// out and stays on the server's page.
func TestLogoutRedirectOnlyRegistered(t *testing.T) {
	f := newFixture(t)
	cfg := logoutClient(f, "app")
	logoutClient(f, "other")
	if _, err := h.ChangeClient(f.NS, "other", func(c *v1alpha1.OAuthClient) {
		c.Spec.PostLogoutRedirectURIs = []string{"https://other.example/bye"}
	}); err != nil {
		t.Fatal(err)
	}
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	tests := []struct {
		name   string
		uri    string
		noHint bool
	}{
		{"unregistered", "https://attacker.example/cb", false},
		{"registered on another client", "https://other.example/bye", false},
		{"not exactly a registered URI", returnURI + "/../x", false},
		{"no hint", returnURI, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			hint := signInForIDToken(t, b, cfg, "alice", pw)
			var p page
			if tt.noHint {
				ask := b.Get(logoutURL(issuer, "post_logout_redirect_uri", tt.uri, "client_id", cfg.ClientID))
				p = b.PostForm(issuer+"/oauth/logout", formFieldsOf(t, ask), "Sec-Fetch-Site", "same-origin")
			} else {
				p = b.Get(logoutURL(issuer, "id_token_hint", hint, "post_logout_redirect_uri", tt.uri))
			}
			if p.Location != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, "not registered") {
				t.Fatalf("%d %v\n%s", p.Status, p.Location, p.Body)
			}
			wantSignedIn(t, b, cfg, false)
		})
	}
}

// TestLogoutRefusesForgedHint: a hint that is not an id_token of this
// server (another issuer over the same keys, an access token, a changed
// signature, garbage) or whose client is not client_id is refused, and the
// session stays. An expired hint of this server is accepted (§2).
func TestLogoutRefusesForgedHint(t *testing.T) {
	f := newFixture(t)
	cfg := logoutClient(f, "app")
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	otherIssuer := startServer(t, tokenserver.Options{Issuer: "https://impostor.example"})
	r := postTokenForm(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "scope": {"openid"},
		"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}})
	otherTok := passwordIDToken(t, otherIssuer, cfg, pw)
	if iss := testhttp.JWTClaims(t, otherTok)["iss"]; iss != "https://impostor.example" {
		t.Fatalf("iss %v", iss)
	}
	b := newBrowser(t)
	hint := signInForIDToken(t, b, cfg, "alice", pw)
	access, _ := r.Body["access_token"].(string)
	tampered := hint[:len(hint)-4] + strings.Map(func(r rune) rune { return 'A' + (r+1)%26 }, hint[len(hint)-4:])
	tests := []struct{ name, hint, clientID string }{
		{"other issuer", otherTok, ""},
		{"access token", access, ""},
		{"tampered signature", tampered, ""},
		{"garbage", "not-a-jwt", ""},
		{"client_id is not the audience", hint, "someone-else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := []string{"id_token_hint", tt.hint, "post_logout_redirect_uri", returnURI}
			if tt.clientID != "" {
				kv = append(kv, "client_id", tt.clientID)
			}
			if p := b.Get(logoutURL(issuer, kv...)); p.Status != http.StatusBadRequest || p.Location != nil {
				t.Fatalf("%d %v\n%s", p.Status, p.Location, p.Body)
			}
			wantSignedIn(t, b, cfg, true)
		})
	}

	clk := clocktesting.NewFakeClock(time.Now().Add(48 * time.Hour))
	later := startServer(t, tokenserver.Options{Clock: clk})
	p := b.Get(logoutURL(later, "id_token_hint", hint, "post_logout_redirect_uri", returnURI))
	if p.Status != http.StatusFound || p.Location == nil || p.Location.Host != "app.example" {
		t.Fatalf("expired hint: %d %v\n%s", p.Status, p.Location, p.Body)
	}
}

// passwordIDToken is an id_token of alice from the server at base.
func passwordIDToken(t *testing.T, base string, cfg oauth2.Config, pw string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw},
		"scope": {"openid"}, "client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	tok, _ := body["id_token"].(string)
	if tok == "" {
		t.Fatalf("no id_token from %s: %v", base, body)
	}
	return tok
}

// TestDiscoveryAdvertisesLogout: end_session_endpoint (RP-Initiated Logout
// 1.0 §2.1).
func TestDiscoveryAdvertisesLogout(t *testing.T) {
	doc := getJSON(t, issuer+"/.well-known/openid-configuration")
	if doc["end_session_endpoint"] != issuer+"/oauth/logout" {
		t.Fatalf("end_session_endpoint = %v", doc["end_session_endpoint"])
	}
}

package workload_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/pkg/workload"
)

// tokenEndpoint is a minimal client_credentials endpoint that accepts one
// current secret, counts requests and records what it was asked for.
type tokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	secret   string
	lastForm map[string]string
	issued   atomic.Int64
}

func newTokenEndpoint(t *testing.T, secret string) *tokenEndpoint {
	e := &tokenEndpoint{secret: secret}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *tokenEndpoint) setSecret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secret = s
}

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	if !ok || id != "billing" || secret != e.secret {
		w.Header().Set("WWW-Authenticate", "Basic")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
		return
	}
	_ = r.ParseForm()
	e.lastForm = map[string]string{"grant_type": r.PostForm.Get("grant_type"), "scope": r.PostForm.Get("scope"), "audience": r.PostForm.Get("audience")}
	n := e.issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "at-" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": 3600, "scope": r.PostForm.Get("scope"),
	})
}

func credentialFiles(tokenURL, secret string) map[string][]byte {
	return map[string][]byte{
		"client_id": []byte("billing"), "client_secret": []byte(secret), "token_url": []byte(tokenURL),
		"issuer": []byte("https://issuer.example"), "jwks_url": []byte("https://issuer.example/.well-known/jwks.json"),
		"scope": []byte("invoices.read invoices.write"),
	}
}

func TestClientCredentialsSourceFollowsSecretRotation(t *testing.T) {
	ep := newTokenEndpoint(t, "secret-1")
	dir := filepath.Join(t.TempDir(), "creds")
	mount(t, dir, credentialFiles(ep.URL, "secret-1"), false)
	clk := clocktesting.NewFakePassiveClock(epoch)
	src := workload.ClientCredentialsSource(context.Background(), dir, workload.ClientOptions{Clock: clk})

	expectToken(t, src.Token, "at-1")
	if got := ep.lastForm; got["grant_type"] != "client_credentials" || got["scope"] != "invoices.read invoices.write" {
		t.Errorf("request = %v, want client_credentials with the Secret's scopes", got)
	}
	// Reused while fresh: no second request.
	clk.SetTime(epoch.Add(59 * time.Minute))
	expectToken(t, src.Token, "at-1")

	// The secret rotates without overlap: the server accepts only the new
	// one, and the kubelet updates the mount.
	ep.setSecret("secret-2")
	mount(t, dir, credentialFiles(ep.URL, "secret-2"), false)
	clk.SetTime(epoch.Add(59*time.Minute + 31*time.Second))
	expectToken(t, src.Token, "at-2")
	if n := ep.issued.Load(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

func TestClientCredentialsSourceOptionsAndErrors(t *testing.T) {
	ep := newTokenEndpoint(t, "secret-1")
	dir := t.TempDir()
	mount(t, dir, credentialFiles(ep.URL, "secret-1"), false)
	src := workload.ClientCredentialsSource(context.Background(), dir, workload.ClientOptions{
		Scopes: []string{"invoices.read"}, Audience: []string{"https://api.example.com"},
	})
	expectToken(t, src.Token, "at-1")
	if got := ep.lastForm; got["scope"] != "invoices.read" || got["audience"] != "https://api.example.com" {
		t.Errorf("request = %v", got)
	}

	// A wrong secret is the server's refusal, named with the client.
	ep.setSecret("other")
	src = workload.ClientCredentialsSource(context.Background(), dir, workload.ClientOptions{})
	if _, err := src.Token(); err == nil || !contains(err.Error(), "billing", "invalid_client") {
		t.Errorf("err = %v, want the server's invalid_client for billing", err)
	}

	// A public client's Secret has no client_secret.
	files := credentialFiles(ep.URL, "")
	delete(files, "client_secret")
	mount(t, dir, files, false)
	if _, err := src.Token(); !errors.Is(err, workload.ErrMissing) || !contains(err.Error(), "client_secret") {
		t.Errorf("err = %v, want ErrMissing naming client_secret", err)
	}
	if _, err := workload.ReadCredentials(filepath.Join(dir, "absent")); !errors.Is(err, workload.ErrMissing) {
		t.Errorf("err = %v, want ErrMissing", err)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

package tokenserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

func TestDiscoveryAcceptedByGoOIDC(t *testing.T) {
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	var doc map[string]any
	if err := p.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != issuer || doc["token_endpoint"] != issuer+"/oauth/token" || doc["jwks_uri"] != issuer+"/.well-known/jwks.json" {
		t.Fatalf("discovery document %v", doc)
	}
	r := do(t, mustRequest(t, http.MethodGet, issuer+"/.well-known/oauth-authorization-server"))
	if r.Status != 200 || r.Body["issuer"] != issuer {
		t.Fatalf("RFC 8414 document: %d %v", r.Status, r.Body)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestJWKSPublicOnlyWithETag(t *testing.T) {
	r := do(t, mustRequest(t, http.MethodGet, issuer+"/.well-known/jwks.json"))
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &set); err != nil {
		t.Fatal(err)
	}
	// First start publishes an active and a next key per algorithm.
	if len(set.Keys) < 4 {
		t.Fatalf("want at least 4 published keys, got %d", len(set.Keys))
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %v holds private member %q", k["kid"], private)
			}
		}
		if k["use"] != "sig" || k["alg"] == nil || k["kid"] == nil {
			t.Fatalf("key without use/alg/kid: %v", k)
		}
		if kids[k["kid"].(string)] {
			t.Fatalf("duplicate kid %v", k["kid"])
		}
		kids[k["kid"].(string)] = true
	}
	etag := r.Header.Get("ETag")
	if etag == "" || r.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("caching headers: %v", r.Header)
	}
	req := mustRequest(t, http.MethodGet, issuer+"/.well-known/jwks.json")
	req.Header.Set("If-None-Match", etag)
	if again := do(t, req); again.Status != http.StatusNotModified || again.Raw != "" {
		t.Fatalf("If-None-Match: status %d body %q", again.Status, again.Raw)
	}
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// TestAssertionScenariosAgainstTheServer runs the two assertion scenarios
// against the real token server (memory stores): every request succeeds, so
// each private_key_jwt assertion is fresh (a reused jti would be refused) and
// the ServiceAccount token is accepted request after request.
func TestAssertionScenariosAgainstTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := servertest.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bench", Algorithm: "ES256", Use: "sig"}}})
	ns := h.Namespace()
	id, _, _ := h.Client(ns, "workload", v1alpha1.OAuthClientSpec{Authentication: &v1alpha1.ClientAuthentication{
		ServiceAccounts: []string{"robot"}, PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{JWKS: string(jwks)}, ClientSecret: v1alpha1.ClientSecretNone,
	}})
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, tokenFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "token")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(h.Mem.Reviews.Issue(ns, "robot", []string{h.Issuer}, time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config{
		baseURL: h.Issuer, scenarios: assertionScenarios, concurrency: 4, requests: 200, timeout: 5 * time.Second,
		maxSamples: defaultMaxSamples, assertionClientID: id, saTokenFile: tokenFile, clientKeyFile: keyFile, clientKeyID: "bench",
	}
	before := h.Mem.Reviews.Calls()
	rep, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Scenarios {
		if s.Successes != 200 || s.Errors != 0 {
			t.Errorf("%s: %d successes, errors %v", s.Name, s.Successes, kindSummary(s.Kinds))
		}
	}
	if n := h.Mem.Reviews.Calls() - before; n != 1 {
		t.Errorf("%d TokenReviews for 200 requests with one ServiceAccount token, want 1", n)
	}
}

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Scenarios of client_credentials authenticated with a client assertion
// (RFC 7523) instead of a secret; they run only when named or when their
// flags are given.
const (
	// scServiceAccount sends one ServiceAccount token (from
	// -sa-token-file) as the assertion of every request, as a pod does
	// with its projected token: the server reviews it once and then
	// answers from its cache.
	scServiceAccount = "client_credentials_sa"
	// scPrivateKeyJWT signs a fresh private_key_jwt assertion (new jti)
	// for every request with the key of -client-key-file.
	scPrivateKeyJWT = "client_credentials_pkjwt"
)

var assertionScenarios = []string{scServiceAccount, scPrivateKeyJWT}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAuth is what the assertion scenarios send, read once at start.
type assertionAuth struct {
	saToken string
	signer  jose.Signer
}

// loadAssertionAuth reads the ServiceAccount token and the client key the
// configuration names.
func loadAssertionAuth(cfg config) (assertionAuth, error) {
	var a assertionAuth
	if cfg.saTokenFile != "" {
		b, err := os.ReadFile(cfg.saTokenFile)
		if err != nil {
			return a, fmt.Errorf("-sa-token-file: %w", err)
		}
		a.saToken = strings.TrimSpace(string(b))
	}
	if cfg.clientKeyFile != "" {
		b, err := os.ReadFile(cfg.clientKeyFile)
		if err != nil {
			return a, fmt.Errorf("-client-key-file: %w", err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return a, errors.New("-client-key-file: no PEM block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return a, fmt.Errorf("-client-key-file: %w", err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return a, errors.New("-client-key-file: not a signing key")
		}
		var alg jose.SignatureAlgorithm
		switch signer.Public().(type) {
		case *ecdsa.PublicKey:
			alg = jose.ES256
		case *rsa.PublicKey:
			alg = jose.RS256
		case ed25519.PublicKey:
			alg = jose.EdDSA
		default:
			return a, errors.New("-client-key-file: not an EC, RSA or Ed25519 key")
		}
		a.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: signer, KeyID: cfg.clientKeyID}}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return a, fmt.Errorf("-client-key-file: %w", err)
		}
	}
	return a, nil
}

// privateKeyJWT is a new assertion for the token endpoint, valid one minute.
func (t *target) privateKeyJWT() (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now()
	id := t.cfg.assertionClientID
	return jwt.Signed(t.auth.signer).Claims(jwt.Claims{
		Issuer: id, Subject: id, Audience: jwt.Audience{t.cfg.baseURL + "/oauth/token"},
		ID: base64.RawURLEncoding.EncodeToString(jti), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
}

// assertionGrant is client_credentials authenticated by assertion alone.
func (t *target) assertionGrant(ctx context.Context, assertion string) error {
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {t.cfg.assertionClientID},
		"client_assertion_type": {assertionType}, "client_assertion": {assertion},
	}
	if t.cfg.scope != "" {
		form.Set("scope", t.cfg.scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.baseURL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := t.do(req)
	if err != nil {
		return err
	}
	var tr tokenResponse
	if json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		return fail("no access_token in response")
	}
	return nil
}

// onceAssertion sends one request of an assertion scenario.
func (t *target) onceAssertion(ctx context.Context, scenario string) error {
	if scenario == scServiceAccount {
		return t.assertionGrant(ctx, t.auth.saToken)
	}
	a, err := t.privateKeyJWT()
	if err != nil {
		return err
	}
	return t.assertionGrant(ctx, a)
}

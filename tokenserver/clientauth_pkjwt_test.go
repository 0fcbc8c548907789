package tokenserver_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// clientKey is a key pair a client holds for private_key_jwt.
type clientKey struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
	kid  string
}

func newECKey(t testing.TB, kid string) clientKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: k, alg: jose.ES256, kid: kid}
}

// jwks is the public JWK Set of keys.
func jwks(t testing.TB, keys ...clientKey) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sign builds an assertion with claims, signed by k (its kid in the header).
func (k clientKey) sign(t testing.TB, claims any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// pkClaims are good assertion claims for client id at aud.
func pkClaims(id, aud string) jwt.Claims {
	now := time.Now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	return jwt.Claims{
		Issuer: id, Subject: id, Audience: jwt.Audience{aud}, ID: b64url(string(jti)),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}
}

func pkClient(f *fixture, name string, keys string) string {
	f.T.Helper()
	id, _ := f.Client(name, v1alpha1.OAuthClientSpec{
		Scopes: []string{"read"},
		Authentication: &v1alpha1.ClientAuthentication{
			PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{JWKS: keys}, ClientSecret: v1alpha1.ClientSecretNone,
		},
	})
	return id
}

func TestPrivateKeyJWTAuthenticates(t *testing.T) {
	f := newFixture(t)
	key := newECKey(t, "k1")
	id := pkClient(f, "signer", jwks(t, newECKey(t, "k0"), key))
	for _, aud := range []string{issuer + "/oauth/token", issuer} {
		r := post(t, "/oauth/token", formType, assertionForm(key.sign(t, pkClaims(id, aud))))
		if r.Status != http.StatusOK || testhttp.JWTClaims(t, r.Body["access_token"].(string))["client_id"] != id {
			t.Fatalf("aud %s: %d %s", aud, r.Status, r.Raw)
		}
	}
	// With client_id, and at the introspection endpoint with its own URL.
	r := post(t, "/oauth/token", formType, assertionForm(key.sign(t, pkClaims(id, issuer)), "client_id", id))
	if r.Status != http.StatusOK {
		t.Fatalf("with client_id: %d %s", r.Status, r.Raw)
	}
	in := post(t, "/oauth/introspect", formType, form("token", r.Body["access_token"].(string),
		"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		"client_assertion", key.sign(t, pkClaims(id, issuer+"/oauth/introspect"))))
	if in.Status != http.StatusOK || in.Body["active"] != true {
		t.Fatalf("introspection with private_key_jwt: %d %s", in.Status, in.Raw)
	}
}

func TestPrivateKeyJWTReplayRefused(t *testing.T) {
	f := newFixture(t)
	key := newECKey(t, "k1")
	id := pkClient(f, "signer", jwks(t, key))
	a := key.sign(t, pkClaims(id, issuer+"/oauth/token"))
	if r := post(t, "/oauth/token", formType, assertionForm(a)); r.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.Status, r.Raw)
	}
	wantInvalidClient(t, post(t, "/oauth/token", formType, assertionForm(a)), "second use of one jti")
	// The same jti in a new assertion is a replay too.
	c := pkClaims(id, issuer+"/oauth/token")
	c.ID = testhttp.JWTClaims(t, a)["jti"].(string)
	wantInvalidClient(t, post(t, "/oauth/token", formType, assertionForm(key.sign(t, c))), "a jti used before")
}

func TestPrivateKeyJWTRefusals(t *testing.T) {
	f := newFixture(t)
	key := newECKey(t, "k1")
	id := pkClient(f, "signer", jwks(t, key))
	otherID := pkClient(f, "other", jwks(t, newECKey(t, "k1")))
	tokenURL := issuer + "/oauth/token"
	mod := func(change func(*jwt.Claims)) jwt.Claims {
		c := pkClaims(id, tokenURL)
		change(&c)
		return c
	}
	now := time.Now()
	rsaKey := clientKey{priv: newRSAKey(t), alg: jose.RS256, kid: "k1"}
	cases := []struct {
		name, assertion string
		kv              []string
	}{
		{"expired", key.sign(t, mod(func(c *jwt.Claims) {
			c.IssuedAt, c.Expiry = jwt.NewNumericDate(now.Add(-10*time.Minute)), jwt.NewNumericDate(now.Add(-6*time.Minute))
		})), nil},
		{"no exp", key.sign(t, mod(func(c *jwt.Claims) { c.Expiry = nil })), nil},
		{"not yet valid", key.sign(t, mod(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(2 * time.Minute)) })), nil},
		{"issued in the future", key.sign(t, mod(func(c *jwt.Claims) {
			c.IssuedAt, c.Expiry = jwt.NewNumericDate(now.Add(2*time.Minute)), jwt.NewNumericDate(now.Add(3*time.Minute))
		})), nil},
		{"lives longer than 5 minutes", key.sign(t, mod(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(time.Hour)) })), nil},
		{"issued more than 5 minutes before exp", key.sign(t, mod(func(c *jwt.Claims) {
			c.IssuedAt, c.Expiry = jwt.NewNumericDate(now.Add(-4*time.Minute)), jwt.NewNumericDate(now.Add(2*time.Minute))
		})), nil},
		{"no iat and exp an hour away", key.sign(t, mod(func(c *jwt.Claims) { c.IssuedAt, c.Expiry = nil, jwt.NewNumericDate(now.Add(time.Hour)) })), nil},
		{"wrong audience", key.sign(t, mod(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://elsewhere.example/token"} })), nil},
		{"sub is not iss", key.sign(t, mod(func(c *jwt.Claims) { c.Subject = otherID })), nil},
		{"iss is another client", key.sign(t, mod(func(c *jwt.Claims) { c.Issuer, c.Subject = otherID, otherID })), nil},
		{"client_id disagrees", key.sign(t, pkClaims(id, tokenURL)), []string{"client_id", otherID}},
		{"no jti", key.sign(t, mod(func(c *jwt.Claims) { c.ID = "" })), nil},
		{"a key the client does not hold", newECKey(t, "k1").sign(t, pkClaims(id, tokenURL)), nil},
		{"another key type under the kid", rsaKey.sign(t, pkClaims(id, tokenURL)), nil},
		{"HMAC with the public key as secret", hmacWithPublicKey(t, key, pkClaims(id, tokenURL)), nil},
		{"alg none", noneJWT(t, pkClaims(id, tokenURL)), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalidClient(t, post(t, "/oauth/token", formType, assertionForm(tc.assertion, tc.kv...)), tc.name)
		})
	}
}

// hmacWithPublicKey signs with HS256 keyed by the client's public key's
// JSON: the algorithm-confusion attack on servers that let the header pick.
func hmacWithPublicKey(t testing.TB, k clientKey, claims any) string {
	t.Helper()
	pub, err := json.Marshal(jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid})
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{alg: jose.HS256}.signWith(t, pub, k.kid, claims)
}

func (k clientKey) signWith(t testing.TB, key any, kid string, claims any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func noneJWT(t testing.TB, claims any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64url(`{"alg":"none","typ":"JWT"}`) + "." + b64url(string(b)) + "."
}

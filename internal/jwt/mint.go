// Package jwt mints Tokenwarden's tokens (RFC 9068 access tokens and OpenID
// Connect id_tokens) and verifies them. It is shared by the token server and
// the in-process token refresher, so both issue exactly the same tokens.
package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// Token types of the JWS typ header.
const (
	// TypeAccessToken is RFC 9068 §2.1.
	TypeAccessToken = "at+jwt"
	// TypeIDToken is the conventional typ of id_tokens.
	TypeIDToken = "JWT"
)

// AccessClaims describe an access token.
type AccessClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	ClientID string
	Scope    string
	// JTI is generated when empty.
	JTI      string
	IssuedAt time.Time
	TTL      time.Duration
	// Extra claims (auth_time, preferred_username, ...); they never
	// override the ones above.
	Extra map[string]any
}

// IDClaims describe an id_token (OpenID Connect Core §2).
type IDClaims struct {
	Issuer   string
	Subject  string
	Audience string
	IssuedAt time.Time
	TTL      time.Duration
	AuthTime time.Time
	Nonce    string
	// AccessToken, when set, yields at_hash (§3.1.3.6, §3.2.2.10).
	AccessToken string
	// Claims are the user's claims released by the granted scopes.
	Claims map[string]any
}

// signerCache holds the go-jose signer of the active key per algorithm and
// typ: building one costs allocations that a token endpoint at thousands of
// requests per second should not pay per token. An entry is used only for the
// very same key (kid and key material), and is replaced when the active key
// changes, so retired and compromised private keys are not kept alive here.
var signerCache sync.Map

type signerKey struct {
	alg keys.Algorithm
	typ string
}

type cachedSigner struct {
	kid    string
	key    any
	signer jose.Signer
}

// sameKey reports whether two private keys are the same key: pointer
// identity for ECDSA and RSA keys, equal bytes for Ed25519 keys.
func sameKey(a, b any) bool {
	switch ka := a.(type) {
	case ed25519.PrivateKey:
		kb, ok := b.(ed25519.PrivateKey)
		return ok && bytes.Equal(ka, kb)
	case *ecdsa.PrivateKey:
		kb, ok := b.(*ecdsa.PrivateKey)
		return ok && ka == kb
	case *rsa.PrivateKey:
		kb, ok := b.(*rsa.PrivateKey)
		return ok && ka == kb
	}
	return false
}

func signerFor(set *keys.Set, alg keys.Algorithm, typ string) (jose.Signer, string, error) {
	sg, ok := set.Signing(alg)
	if !ok {
		return nil, "", fmt.Errorf("no active %s key", alg)
	}
	k := signerKey{alg, typ}
	if v, ok := signerCache.Load(k); ok {
		if c := v.(*cachedSigner); c.kid == sg.KID && sameKey(c.key, sg.Key) {
			return c.signer, sg.KID, nil
		}
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), sg.KID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: sg.Key}, opts)
	if err != nil {
		return nil, "", fmt.Errorf("signer for %s: %w", alg, err)
	}
	signerCache.Store(k, &cachedSigner{kid: sg.KID, key: sg.Key, signer: s})
	return s, sg.KID, nil
}

func sign(set *keys.Set, alg keys.Algorithm, typ string, claims map[string]any) (string, error) {
	s, _, err := signerFor(set, alg, typ)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// audience is a single string when there is one audience (RFC 7519 §4.1.3).
func audienceClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return aud
}

// NewJTI returns a random token id.
func NewJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MintAccessToken signs an access token in the RFC 9068 profile with the
// active key of alg.
func MintAccessToken(set *keys.Set, alg keys.Algorithm, c AccessClaims) (string, error) {
	claims := make(map[string]any, 10+len(c.Extra))
	for k, v := range c.Extra {
		claims[k] = v
	}
	if c.JTI == "" {
		c.JTI = NewJTI()
	}
	iat := c.IssuedAt.Unix()
	claims["iss"], claims["sub"], claims["aud"] = c.Issuer, c.Subject, audienceClaim(c.Audience)
	claims["iat"], claims["nbf"], claims["exp"] = iat, iat, c.IssuedAt.Add(c.TTL).Unix()
	claims["jti"], claims["client_id"] = c.JTI, c.ClientID
	if c.Scope != "" {
		claims["scope"] = c.Scope
	} else {
		delete(claims, "scope")
	}
	return sign(set, alg, TypeAccessToken, claims)
}

// MintIDToken signs an OpenID Connect id_token with the active key of alg.
func MintIDToken(set *keys.Set, alg keys.Algorithm, c IDClaims) (string, error) {
	claims := make(map[string]any, 10+len(c.Claims))
	for k, v := range c.Claims {
		if !reservedIDClaims[k] {
			claims[k] = v
		}
	}
	claims["iss"], claims["sub"], claims["aud"] = c.Issuer, c.Subject, c.Audience
	claims["iat"], claims["exp"] = c.IssuedAt.Unix(), c.IssuedAt.Add(c.TTL).Unix()
	if !c.AuthTime.IsZero() {
		claims["auth_time"] = c.AuthTime.Unix()
	}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	if c.AccessToken != "" {
		h, err := LeftHalfHash(alg, c.AccessToken)
		if err != nil {
			return "", err
		}
		claims["at_hash"] = h
	}
	return sign(set, alg, TypeIDToken, claims)
}

// reservedIDClaims are set by MintIDToken alone; user claims never carry them.
var reservedIDClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "iat": true, "exp": true, "nbf": true, "jti": true,
	"auth_time": true, "nonce": true, "at_hash": true, "c_hash": true, "azp": true, "acr": true, "amr": true,
}

// LeftHalfHash is the at_hash / c_hash value (OpenID Connect Core §3.1.3.6):
// the left half of the hash of the ASCII value, with the hash of the id_token's
// algorithm; SHA-512 for EdDSA (Ed25519), as OpenID Connect implementations
// agree.
func LeftHalfHash(alg keys.Algorithm, value string) (string, error) {
	var h hash.Hash
	switch alg {
	case keys.ES256, keys.RS256:
		h = sha256.New()
	case keys.EdDSA:
		h = sha512.New()
	default:
		return "", fmt.Errorf("no hash for %s", alg)
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

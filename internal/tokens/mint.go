// Package tokens mints Tokenwarden's tokens (RFC 9068 access tokens and
// OpenID Connect id_tokens) and verifies them. It is shared by the token
// server and the in-process token refresher, so both issue exactly the same
// tokens. Signers come prepared from the immutable keys.Set; the package
// keeps no state of its own.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// Token types of the JWS typ header.
const (
	// TypeAccessToken is RFC 9068 §2.1.
	TypeAccessToken = keys.TypeAccessToken
	// TypeIDToken is the conventional typ of id_tokens.
	TypeIDToken = keys.TypeIDToken
)

// ClaimNamespace names the namespace (tenant) a token was issued in. It is
// a collision-resistant public claim name (RFC 7519 §4.2) that neither extra
// claims nor a user's own claims can set.
const ClaimNamespace = "tokenwarden.dev/namespace"

// AccessClaims describe an access token.
type AccessClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	ClientID string
	Scope    string
	// Namespace is the tenant of the client; it becomes ClaimNamespace.
	Namespace string
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
	// Namespace is the tenant of the user; it becomes ClaimNamespace.
	Namespace string
	IssuedAt  time.Time
	TTL       time.Duration
	AuthTime  time.Time
	Nonce     string
	// AccessToken, when set, yields at_hash (§3.1.3.6, §3.2.2.10).
	AccessToken string
	// Claims are the user's claims released by the granted scopes.
	Claims map[string]any
}

// accessPayload is the JSON of an access token's registered claims (RFC 9068
// §2.2). A struct rather than a map: encoding it costs a third of the
// allocations and needs no key sorting.
type accessPayload struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  any    `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
	JTI       string `json:"jti"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope,omitempty"`
	Namespace string `json:"tokenwarden.dev/namespace,omitempty"`
}

// reservedAccessClaims are set by MintAccessToken alone; Extra never carries
// them, scope included when Scope is empty.
var reservedAccessClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "iat": true, "nbf": true, "exp": true,
	"jti": true, "client_id": true, "scope": true, ClaimNamespace: true,
}

// idPayload is the JSON of an id_token's claims set by MintIDToken.
type idPayload struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	AuthTime *int64 `json:"auth_time,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	ATHash   string `json:"at_hash,omitempty"`
	// Namespace is ClaimNamespace.
	Namespace string `json:"tokenwarden.dev/namespace,omitempty"`
}

// reservedIDClaims are set by MintIDToken alone; user claims never carry them.
var reservedIDClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "iat": true, "exp": true, "nbf": true, "jti": true,
	"auth_time": true, "nonce": true, "at_hash": true, "c_hash": true, "azp": true, "acr": true, "amr": true,
	ClaimNamespace: true,
}

// ReservedUserClaim reports whether a user's own claims may not set name:
// the id_token's registered claims and the claims other grants rely on
// (client_id, scope, preferred_username, email, email_verified).
func ReservedUserClaim(name string) bool {
	return reservedIDClaims[name] || reservedAccessClaims[name] || userDerivedClaims[name]
}

// userDerivedClaims come from the OAuthUser's own fields, never from its
// free-form claims.
var userDerivedClaims = map[string]bool{"preferred_username": true, "email": true, "email_verified": true}

// MintAccessToken signs an access token in the RFC 9068 profile with the
// active key of alg.
func MintAccessToken(set *keys.Set, alg keys.Algorithm, c AccessClaims) (string, error) {
	if c.JTI == "" {
		c.JTI = NewJTI()
	}
	iat := c.IssuedAt.Unix()
	p := accessPayload{
		Issuer: c.Issuer, Subject: c.Subject, Audience: audienceClaim(c.Audience),
		IssuedAt: iat, NotBefore: iat, Expiry: c.IssuedAt.Add(c.TTL).Unix(),
		JTI: c.JTI, ClientID: c.ClientID, Scope: c.Scope, Namespace: c.Namespace,
	}
	payload, err := encodeClaims(p, c.Extra, reservedAccessClaims)
	if err != nil {
		return "", err
	}
	return sign(set, alg, TypeAccessToken, payload)
}

// MintIDToken signs an OpenID Connect id_token with the active key of alg.
func MintIDToken(set *keys.Set, alg keys.Algorithm, c IDClaims) (string, error) {
	p := idPayload{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		IssuedAt: c.IssuedAt.Unix(), Expiry: c.IssuedAt.Add(c.TTL).Unix(), Nonce: c.Nonce, Namespace: c.Namespace,
	}
	if !c.AuthTime.IsZero() {
		at := c.AuthTime.Unix()
		p.AuthTime = &at
	}
	if c.AccessToken != "" {
		h, err := LeftHalfHash(alg, c.AccessToken)
		if err != nil {
			return "", err
		}
		p.ATHash = h
	}
	payload, err := encodeClaims(p, c.Claims, reservedIDClaims)
	if err != nil {
		return "", err
	}
	return sign(set, alg, TypeIDToken, payload)
}

// encodeClaims encodes the registered claims of struct p and appends the
// extra claims that reserved does not name, into one JSON object.
func encodeClaims(p any, extra map[string]any, reserved map[string]bool) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode claims: %w", err)
	}
	var rest map[string]any
	for k, v := range extra {
		if !reserved[k] {
			if rest == nil {
				rest = make(map[string]any, len(extra))
			}
			rest[k] = v
		}
	}
	if rest == nil {
		return b, nil
	}
	more, err := json.Marshal(rest)
	if err != nil {
		return nil, fmt.Errorf("encode claims: %w", err)
	}
	// Both are non-empty objects: "{a}" and "{b}" join as "{a,b}".
	return append(append(b[:len(b)-1], ','), more[1:]...), nil
}

// sign makes the compact JWS of payload with the prepared signer of the
// active key of alg, which sets the kid and typ headers.
func sign(set *keys.Set, alg keys.Algorithm, typ string, payload []byte) (string, error) {
	s, ok := set.JWSSigner(alg, typ)
	if !ok {
		return "", fmt.Errorf("no active %s key", alg)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// audienceClaim is a single string when there is one audience (RFC 7519
// §4.1.3).
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

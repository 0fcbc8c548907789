package keys

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// JWS typ header values (RFC 7515 §4.1.9) of the tokens a Set signs: NewSet
// prepares one signer per active key and type, so minting builds none.
const (
	// TypeAccessToken is RFC 9068 §2.1.
	TypeAccessToken = "at+jwt"
	// TypeIDToken is the conventional typ of OpenID Connect id_tokens.
	TypeIDToken = "JWT"
)

var signedTypes = []string{TypeAccessToken, TypeIDToken}

// Set is the runtime form of the keys: signers prepared once per key-set
// change, and the public JWKS as ready-to-serve bytes. It is immutable, so
// request handlers share it without locks.
type Set struct {
	signers map[Algorithm]Signer
	jws     map[jwsSignerKey]jose.Signer
	public  map[string]jose.JSONWebKey
	jwks    []byte
	etag    string
}

type jwsSignerKey struct {
	alg Algorithm
	typ string
}

// Signer is the active key of one algorithm.
type Signer struct {
	KID       string
	Algorithm Algorithm
	// Key is the private key (crypto.Signer) for go-jose.
	Key any
}

// NewSet builds the runtime set from stored keys.
func NewSet(ks []Key) (*Set, error) {
	sorted := append([]Key(nil), ks...)
	sortKeys(sorted)
	s := &Set{signers: map[Algorithm]Signer{}, jws: map[jwsSignerKey]jose.Signer{}, public: map[string]jose.JSONWebKey{}}
	pub := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range sorted {
		if _, dup := s.public[k.ID]; dup {
			return nil, fmt.Errorf("duplicate kid %q", k.ID)
		}
		p := k.Private.Public()
		p.KeyID, p.Algorithm, p.Use = k.ID, string(k.Algorithm), "sig"
		if !p.Valid() {
			return nil, fmt.Errorf("key %q has no valid public part", k.ID)
		}
		s.public[k.ID] = p
		pub.Keys = append(pub.Keys, p)
		if k.State == StateActive {
			if err := s.addSigner(k); err != nil {
				return nil, err
			}
		}
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	sum := sha256.Sum256(b)
	s.jwks, s.etag = b, `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`
	return s, nil
}

// addSigner prepares the active key k: its signing form and a JWS signer per
// token type, with the kid and typ headers.
func (s *Set) addSigner(k Key) error {
	sg := Signer{KID: k.ID, Algorithm: k.Algorithm, Key: signingKey(k.Private.Key)}
	s.signers[k.Algorithm] = sg
	for _, typ := range signedTypes {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), k.ID)
		js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: sg.Key}, opts)
		if err != nil {
			return fmt.Errorf("signer for key %q: %w", k.ID, err)
		}
		s.jws[jwsSignerKey{k.Algorithm, typ}] = js
	}
	return nil
}

// signingKey returns key ready to sign many times. An RSA key read from JSON
// (go-jose sets only Dp, Dq and Qinv) lacks crypto/rsa's precomputed form,
// and every signature would rebuild and re-check it, about a tenth of an
// RS256-2048 signature; a copy is precomputed so the stored Key, which others
// may hold, is not written to.
func signingKey(key any) any {
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return key
	}
	cp := *rk
	cp.Precompute()
	return &cp
}

// Signing returns the active key of alg.
func (s *Set) Signing(alg Algorithm) (Signer, bool) {
	sg, ok := s.signers[alg]
	return sg, ok
}

// JWSSigner returns the prepared signer of the active key of alg for tokens
// of type typ (TypeAccessToken or TypeIDToken); it sets the kid and typ
// headers. It is safe for concurrent use.
func (s *Set) JWSSigner(alg Algorithm, typ string) (jose.Signer, bool) {
	js, ok := s.jws[jwsSignerKey{alg, typ}]
	return js, ok
}

// PublicKey returns the public key with kid, for verification.
func (s *Set) PublicKey(kid string) (jose.JSONWebKey, bool) {
	k, ok := s.public[kid]
	return k, ok
}

// JWKS returns the public JSON Web Key Set (RFC 7517 §5): every published key
// (next, active, retired), public members only. Callers must not modify it.
func (s *Set) JWKS() []byte { return s.jwks }

// ETag is a strong entity tag of the JWKS bytes.
func (s *Set) ETag() string { return s.etag }

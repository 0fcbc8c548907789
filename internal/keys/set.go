package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Set is the runtime form of the keys: signers prepared once per key-set
// change, and the public JWKS as ready-to-serve bytes. It is immutable, so
// request handlers share it without locks.
type Set struct {
	signers map[Algorithm]Signer
	public  map[string]jose.JSONWebKey
	jwks    []byte
	etag    string
	algs    []Algorithm
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
	s := &Set{signers: map[Algorithm]Signer{}, public: map[string]jose.JSONWebKey{}}
	var pub jose.JSONWebKeySet
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
			s.signers[k.Algorithm] = Signer{KID: k.ID, Algorithm: k.Algorithm, Key: k.Private.Key}
			s.algs = append(s.algs, k.Algorithm)
		}
	}
	if pub.Keys == nil {
		pub.Keys = []jose.JSONWebKey{}
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	sum := sha256.Sum256(b)
	s.jwks, s.etag = b, `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`
	return s, nil
}

// Signing returns the active key of alg.
func (s *Set) Signing(alg Algorithm) (Signer, bool) {
	sg, ok := s.signers[alg]
	return sg, ok
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

// Algorithms lists the algorithms that have an active key, for discovery.
func (s *Set) Algorithms() []Algorithm { return s.algs }

package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// MaxClientKeys bounds the keys of one client's JWKS.
const MaxClientKeys = 16

// minClientRSABits is the smallest RSA modulus a client key may have.
const minClientRSABits = 2048

// ClientAssertionAlgorithms are the algorithms a client's private_key_jwt
// assertion may be signed with: asymmetric only (RFC 7523 §3 leaves the
// choice to the server; "none" and HMAC are never accepted, so a client's
// public key can never serve as a shared secret).
func ClientAssertionAlgorithms() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	}
}

// ParseClientJWKS reads a client's JSON Web Key Set (RFC 7517 §5) and keeps
// it only if every key is a public signing key of an allowed kind: RSA of at
// least 2048 bits, EC P-256/P-384/P-521 or Ed25519, "use" empty or "sig", and
// "alg", when set, in ClientAssertionAlgorithms. A private or symmetric key
// is refused outright: it should never have been published.
func ParseClientJWKS(data []byte) ([]jose.JSONWebKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	switch {
	case len(set.Keys) == 0:
		return nil, errors.New("the JWK Set holds no key")
	case len(set.Keys) > MaxClientKeys:
		return nil, fmt.Errorf("the JWK Set holds %d keys, more than %d", len(set.Keys), MaxClientKeys)
	}
	for i, k := range set.Keys {
		if err := checkClientKey(k); err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.KeyID, err)
		}
	}
	return set.Keys, nil
}

func checkClientKey(k jose.JSONWebKey) error {
	if k.Use != "" && k.Use != "sig" {
		return fmt.Errorf("use %q is not sig", k.Use)
	}
	if k.Algorithm != "" && !slices.Contains(ClientAssertionAlgorithms(), jose.SignatureAlgorithm(k.Algorithm)) {
		return fmt.Errorf("alg %q is not an allowed asymmetric signing algorithm", k.Algorithm)
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minClientRSABits {
			return fmt.Errorf("RSA key of %d bits, fewer than %d", pub.N.BitLen(), minClientRSABits)
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		// A private or symmetric key lands here too: it must never have
		// been published.
		return fmt.Errorf("not a public RSA, EC or Ed25519 key (%T)", k.Key)
	}
	return nil
}

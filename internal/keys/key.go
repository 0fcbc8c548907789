// Package keys holds Tokenwarden's signing keys: their lifecycle (next →
// active → retired → removed), the rotation policy, the storage format in a
// Secret, and the runtime key set that signs tokens and publishes the JWKS.
package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithm is a JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1).
type Algorithm string

// The algorithms Tokenwarden signs with.
const (
	ES256 Algorithm = "ES256"
	RS256 Algorithm = "RS256"
	EdDSA Algorithm = "EdDSA"
)

// Valid reports whether a is one of the supported algorithms.
func (a Algorithm) Valid() bool { return a == ES256 || a == RS256 || a == EdDSA }

// State is where a key is in its lifecycle.
type State string

// Key states. Every state but removed is published in the JWKS.
const (
	// StateNext is published but does not sign yet, so verifiers that cache
	// the JWKS know it before the first token it signs.
	StateNext State = "next"
	// StateActive signs; one per algorithm.
	StateActive State = "active"
	// StateRetired no longer signs and stays published until every token it
	// signed has expired.
	StateRetired State = "retired"
)

// SecretDataKey is the key of the signing-key Secret that holds the keys.
const SecretDataKey = "keys.json"

// Key is one signing key with its lifecycle times.
type Key struct {
	ID          string          `json:"kid"`
	Algorithm   Algorithm       `json:"alg"`
	State       State           `json:"state"`
	CreatedAt   time.Time       `json:"createdAt"`
	ActivatedAt time.Time       `json:"activatedAt,omitzero"`
	RetiredAt   time.Time       `json:"retiredAt,omitzero"`
	Private     jose.JSONWebKey `json:"jwk"`
}

// GenerateKey makes a new key in state next with a random kid.
func GenerateKey(alg Algorithm, now time.Time) (Key, error) {
	var priv any
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Key{}, fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return Key{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return Key{}, fmt.Errorf("generate kid: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(b)
	return Key{
		ID: kid, Algorithm: alg, State: StateNext, CreatedAt: now.UTC().Truncate(time.Second),
		Private: jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(alg), Use: "sig"},
	}, nil
}

// sortKeys orders keys by algorithm, creation and kid, so that encoding
// unchanged keys gives identical bytes.
func sortKeys(ks []Key) {
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.Algorithm != b.Algorithm {
			return a.Algorithm < b.Algorithm
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
}

// Encode serializes keys for the Secret, in a deterministic order.
func Encode(ks []Key) ([]byte, error) {
	c := append([]Key(nil), ks...)
	sortKeys(c)
	return json.Marshal(c)
}

// Decode reads keys written by Encode. Empty input is no keys.
func Decode(b []byte) ([]Key, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var ks []Key
	if err := json.Unmarshal(b, &ks); err != nil {
		return nil, fmt.Errorf("decode signing keys: %w", err)
	}
	for i, k := range ks {
		if !k.Algorithm.Valid() || k.ID == "" || k.Private.Key == nil || k.Private.IsPublic() {
			return nil, fmt.Errorf("decode signing keys: entry %d is not a usable private key", i)
		}
	}
	return ks, nil
}

// Names of the objects holding the keys, in the operator's namespace.
const (
	// SecretName is the Secret with the private keys and their lifecycle.
	SecretName = "tokenwarden-signing-keys"
	// ConfigMapName is the public JWKS, for verifiers that read files.
	ConfigMapName = "tokenwarden-jwks"
	// ConfigMapKey is the JWKS key of that ConfigMap.
	ConfigMapKey = "jwks.json"
	// AnnotationRotate on the key Secret requests a rotation on the next
	// reconcile: any value rotates once publish-ahead allows; the value
	// "compromised" removes the active keys at once.
	AnnotationRotate = "tokenwarden.dev/rotate"
	// RotateCompromised is the AnnotationRotate value for a leaked key.
	RotateCompromised = "compromised"
)

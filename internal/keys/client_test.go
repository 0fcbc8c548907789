package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestParseClientJWKS(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	big, _ := rsa.GenerateKey(rand.Reader, 2048)
	set := func(ks ...jose.JSONWebKey) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	many := make([]jose.JSONWebKey, MaxClientKeys+1)
	for i := range many {
		many[i] = jose.JSONWebKey{Key: ec.Public()}
	}
	cases := []struct {
		name, jwks string
		ok         bool
	}{
		{"EC public", set(jose.JSONWebKey{Key: ec.Public(), KeyID: "a", Algorithm: "ES256", Use: "sig"}), true},
		{"Ed25519 and RSA 2048", set(jose.JSONWebKey{Key: edPub}, jose.JSONWebKey{Key: big.Public(), Algorithm: "PS256"}), true},
		{"a private key", set(jose.JSONWebKey{Key: ec}), false},
		{"a symmetric key", set(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}), false},
		{"RSA 1024", set(jose.JSONWebKey{Key: small.Public()}), false},
		{"use enc", set(jose.JSONWebKey{Key: ec.Public(), Use: "enc"}), false},
		{"alg HS256", set(jose.JSONWebKey{Key: ec.Public(), Algorithm: "HS256"}), false},
		{"no key", `{"keys":[]}`, false},
		{"too many keys", set(many...), false},
		{"not JSON", `keys`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseClientJWKS([]byte(tc.jwks))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseClientJWKS: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

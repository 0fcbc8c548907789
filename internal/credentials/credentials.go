// Package credentials holds what the controllers and the token server agree on
// about credential Secrets: their key names, their labels, and how secrets are
// generated and compared.
package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Endpoints derived from the issuer URL, written into every credential Secret
// so a pod needs nothing else.
type Endpoints struct {
	Issuer   string
	TokenURL string
	JWKSURL  string
}

// EndpointsFor derives the public endpoint URLs from an issuer URL.
func EndpointsFor(issuer string) Endpoints {
	base := strings.TrimRight(issuer, "/")
	return Endpoints{Issuer: issuer, TokenURL: base + "/oauth/token", JWKSURL: base + "/.well-known/jwks.json"}
}

// ClientSecretBytes is the entropy of a generated client secret: 256 bits, so
// a SHA-256 digest comparison is as strong as any slow hash would be.
const ClientSecretBytes = 32

// PasswordBytes is the entropy of a generated user password: 192 bits.
const PasswordBytes = 24

// RandomString returns n bytes from crypto/rand, base64url-encoded without
// padding, so the value is safe in URLs, form bodies and HTTP Basic.
func RandomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Equal compares a presented secret with a stored one in constant time. Both
// are hashed first so that neither the content nor the length of the stored
// secret leaks through timing.
func Equal(presented, stored string) bool {
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(stored))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

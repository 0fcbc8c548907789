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

// Keys of a credential Secret. They are snake_case so that a pod mounting the
// Secret gets files with the names OAuth documents use.
const (
	KeyClientID                     = "client_id"
	KeyClientSecret                 = "client_secret"
	KeyClientSecretPrevious         = "client_secret_previous"
	KeyClientSecretPreviousExpireAt = "client_secret_previous_expires_at"
	KeyUsername                     = "username"
	KeyPassword                     = "password"
	KeyIssuer                       = "issuer"
	KeyTokenURL                     = "token_url"
	KeyJWKSURL                      = "jwks_url"
	KeyScope                        = "scope"
	KeyAccessToken                  = "access_token"
	KeyRefreshToken                 = "refresh_token"
	KeyExpiresAt                    = "expires_at"
	KeyTokenType                    = "token_type"
)

// Labels and annotations Tokenwarden puts on what it writes. The manager caches
// only Secrets that carry LabelKind, so it never holds every Secret of the
// cluster in memory.
const (
	LabelKind      = "tokenwarden.dev/kind"
	LabelOwnerName = "tokenwarden.dev/owner"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "tokenwarden"

	// KindClient marks an OAuthClient's credential Secret.
	KindClient = "client-credentials"
	// KindUser marks an OAuthUser's credential Secret.
	KindUser = "user-credentials"
	// KindPasswordSource marks a Secret of the user's own that an OAuthUser
	// takes its password from.
	KindPasswordSource = "password-source"
	// KindSigningKeys marks the Secret holding the signing keys.
	KindSigningKeys = "signing-keys"
	// KindJWKS marks the ConfigMap holding the public JWKS.
	KindJWKS = "jwks"
	// KindRefreshFamily marks a refresh-token family record.
	KindRefreshFamily = "refresh-family"
	// KindWorkloadToken marks a workload token Secret.
	KindWorkloadToken = "workload-token"

	// AnnotationSecretRotatedAt records when client_secret was generated
	// (RFC 3339), so the rotation schedule survives a lost status.
	AnnotationSecretRotatedAt = "tokenwarden.dev/secret-rotated-at"
)

// ReservedPrefix is the label and annotation prefix Tokenwarden owns; user
// templates cannot set keys under it.
const ReservedPrefix = "tokenwarden.dev/"

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

// ManagedLabels are the labels every Secret Tokenwarden writes carries.
func ManagedLabels(kind, owner string) map[string]string {
	l := map[string]string{LabelKind: kind, LabelManagedBy: ManagedBy}
	if owner != "" && len(owner) <= 63 {
		l[LabelOwnerName] = owner
	}
	return l
}

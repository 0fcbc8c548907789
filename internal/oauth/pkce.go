package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// PKCE methods (RFC 7636 §4.2).
const (
	PKCES256  = "S256"
	PKCEPlain = "plain"
)

// VerifyPKCE checks a code_verifier against the challenge of the code (RFC
// 7636 §4.6). A verifier for a code that had no challenge is refused too:
// otherwise an attacker could inject a code obtained without PKCE (RFC 9700
// §2.1.1, PKCE downgrade).
func VerifyPKCE(method, challenge, verifier string) bool {
	if challenge == "" {
		return verifier == ""
	}
	if !ValidPKCEValue(verifier) {
		return false
	}
	want := verifier
	if method == PKCES256 {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	} else if method != PKCEPlain {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// ValidPKCEValue: 43 to 128 unreserved characters (RFC 7636 §4.1, §4.2).
func ValidPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, r := range v {
		ok := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~'
		if !ok {
			return false
		}
	}
	return true
}

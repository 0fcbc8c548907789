package oauth

import "testing"

func TestVerifyPKCE(t *testing.T) {
	// RFC 7636 Appendix B.
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	tests := []struct {
		name                        string
		method, challenge, verifier string
		want                        bool
	}{
		{"S256", PKCES256, challenge, verifier, true},
		{"S256 wrong verifier", PKCES256, challenge, verifier[:42] + "A", false},
		{"S256 verifier is the challenge", PKCES256, challenge, challenge, false},
		{"plain", PKCEPlain, verifier, verifier, true},
		{"plain mismatch", PKCEPlain, verifier, challenge, false},
		{"no challenge, no verifier", "", "", "", true},
		{"no challenge, a verifier (downgrade)", "", "", verifier, false},
		{"challenge, no verifier", PKCES256, challenge, "", false},
		{"verifier too short", PKCEPlain, "abc", "abc", false},
		{"verifier with a forbidden character", PKCEPlain, verifier[:42] + "+", verifier[:42] + "+", false},
		{"unknown method", "S512", challenge, verifier, false},
		// An unknown method is refused, not treated as plain.
		{"unknown method with a plain-equal challenge", "S512", verifier, verifier, false},
		{"empty method is not plain either", "", verifier, verifier, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyPKCE(tt.method, tt.challenge, tt.verifier); got != tt.want {
				t.Fatalf("verifyPKCE = %v, want %v", got, tt.want)
			}
		})
	}
}

package credentials

import (
	"encoding/base64"
	"testing"
)

func TestRandomStringEntropyAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s, err := RandomString(ClientSecretBytes)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != ClientSecretBytes {
			t.Fatalf("secret %d: %d bytes, err %v", i, len(raw), err)
		}
		if seen[s] {
			t.Fatalf("duplicate secret after %d draws", i)
		}
		seen[s] = true
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name              string
		presented, stored string
		want              bool
	}{
		{"same", "s3cret", "s3cret", true},
		{"different", "s3cret", "s3creT", false},
		{"prefix", "s3c", "s3cret", false},
		{"empty presented", "", "s3cret", false},
		{"both empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.presented, tt.stored); got != tt.want {
				t.Errorf("Equal(%q, %q) = %v, want %v", tt.presented, tt.stored, got, tt.want)
			}
		})
	}
}

func TestEndpointsFor(t *testing.T) {
	e := EndpointsFor("https://auth.example.com/")
	if e.TokenURL != "https://auth.example.com/oauth/token" || e.JWKSURL != "https://auth.example.com/.well-known/jwks.json" {
		t.Fatalf("unexpected endpoints %+v", e)
	}
	if e.Issuer != "https://auth.example.com/" {
		t.Fatalf("issuer must be kept exactly, got %q", e.Issuer)
	}
}

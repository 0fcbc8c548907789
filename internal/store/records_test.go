package store

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestConsentID: one id per client and user pair, a valid name suffix, and
// no pair of UIDs can be shifted into another's.
func TestConsentID(t *testing.T) {
	seen := map[string]bool{}
	for _, pair := range [][2]types.UID{{"a", "b"}, {"b", "a"}, {"a\x00", "b"}, {"a", "\x00b"}, {"", ""}} {
		id := ConsentID(pair[0], pair[1])
		if len(id) != 40 || seen[id] {
			t.Fatalf("consent id %q for %q: length %d, seen before %v", id, pair, len(id), seen[id])
		}
		seen[id] = true
	}
}

func TestConsentCovers(t *testing.T) {
	c := &Consent{Scopes: []string{"openid", "profile"}, Audience: []string{"https://api.example"}}
	tests := []struct {
		name      string
		scopes    []string
		audiences []string
		want      bool
	}{
		{"same", []string{"openid", "profile"}, []string{"https://api.example"}, true},
		{"fewer", []string{"openid"}, nil, true},
		{"nothing", nil, nil, true},
		{"another scope", []string{"openid", "email"}, nil, false},
		{"another audience", []string{"openid"}, []string{"https://other.example"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Covers(tt.scopes, tt.audiences); got != tt.want {
				t.Fatalf("Covers(%v, %v) = %v", tt.scopes, tt.audiences, got)
			}
		})
	}
	c.Add([]string{"email", "openid"}, []string{"https://other.example"})
	if !c.Covers([]string{"openid", "profile", "email"}, []string{"https://api.example", "https://other.example"}) || len(c.Scopes) != 3 {
		t.Fatalf("after Add: %+v", c)
	}
}

package credentials

import (
	"strconv"
	"testing"
)

// TestEqualRefusesEveryOtherSecret is the attacker's test of Equal: many
// distinct guesses against one stored secret are all refused. A comparison
// of a part of the digests (one byte matches one guess in 256) lets some
// through.
func TestEqualRefusesEveryOtherSecret(t *testing.T) {
	const stored = "the-stored-client-secret"
	for i := range 4096 {
		guess := "guess-" + strconv.Itoa(i)
		if Equal(guess, stored) {
			t.Fatalf("Equal(%q, %q) = true, want false", guess, stored)
		}
	}
	if !Equal(stored, stored) {
		t.Fatal("the stored secret itself is refused")
	}
}

package password

import (
	"strings"
	"testing"
)

// Each work bound is accepted at its limit and refused one past it, by
// ParseHash and VerifyHash alike, with a message that names the limit.
func TestHashWorkBounds(t *testing.T) {
	b := bcryptHash(t, "pw")
	tests := []struct {
		name    string
		hash    string
		wantErr string // "" means accepted
	}{
		{"bcrypt cost 3", withBcryptCost(t, b, "03"), "bcrypt cost 3 is outside 4..12"},
		{"bcrypt cost 4", withBcryptCost(t, b, "04"), ""},
		{"bcrypt cost 5", withBcryptCost(t, b, "05"), ""},
		{"bcrypt cost 11", withBcryptCost(t, b, "11"), ""},
		{"bcrypt cost 12", withBcryptCost(t, b, "12"), ""},
		{"bcrypt cost 13", withBcryptCost(t, b, "13"), "bcrypt cost 13 is outside 4..12"},
		{"bcrypt cost 17", withBcryptCost(t, b, "17"), "outside 4..12"},
		{"argon2id m=7", argonWith("m=7,t=1,p=1"), "argon2id memory m=7 is outside 8..65536 KiB (64 MiB)"},
		{"argon2id m=8", argonWith("m=8,t=1,p=1"), ""},
		{"argon2id m=65535", argonWith("m=65535,t=1,p=1"), ""},
		{"argon2id m=65536", argonWith("m=65536,t=1,p=1"), ""},
		{"argon2id m=65537", argonWith("m=65537,t=1,p=1"), "argon2id memory m=65537 is outside 8..65536 KiB (64 MiB)"},
		{"argon2id m=1GiB", argonWith("m=1048576,t=1,p=1"), "outside 8..65536"},
		{"argon2id m with leading zeros", argonWith("m=0065537,t=1,p=1"), "m=65537 is outside"},
		{"argon2id t=0", argonWith("m=64,t=0,p=1"), "argon2id time t=0 is outside 1..4"},
		{"argon2id t=1", argonWith("m=64,t=1,p=1"), ""},
		{"argon2id t=3", argonWith("m=64,t=3,p=1"), ""},
		{"argon2id t=4", argonWith("m=64,t=4,p=1"), ""},
		{"argon2id t=5", argonWith("m=64,t=5,p=1"), "argon2id time t=5 is outside 1..4"},
		{"argon2id p=0", argonWith("m=64,t=1,p=0"), "argon2id parallelism p=0 is outside 1..4"},
		{"argon2id p=1", argonWith("m=64,t=1,p=1"), ""},
		{"argon2id p=3", argonWith("m=64,t=1,p=3"), ""},
		{"argon2id p=4", argonWith("m=64,t=1,p=4"), ""},
		{"argon2id p=5", argonWith("m=64,t=1,p=5"), "argon2id parallelism p=5 is outside 1..4"},
		{"argon2id p=260 (wraps to 4 as uint8)", argonWith("m=64,t=1,p=260"), "p=260 is outside 1..4"},
		{"argon2id all at the limits", argonWith("m=65536,t=4,p=4"), ""},
		{"argon2id repeated m hides a large one", argonWith("m=64,t=1,p=1,m=1048576"), "parameter m is repeated"},
		{"argon2id missing m", argonWith("t=1,p=1"), "argon2id memory parameter m is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ParseHash(tt.hash)
			checkBoundErr(t, "ParseHash", err, tt.wantErr)
			if tt.wantErr != "" {
				_, err = VerifyHash(tt.hash, "pw")
				checkBoundErr(t, "VerifyHash", err, tt.wantErr)
			}
		})
	}
}

func checkBoundErr(t *testing.T, fn string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s = %v, want accepted", fn, err)
	case want != "" && err == nil:
		t.Errorf("%s accepted, want error containing %q", fn, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s = %q, want error containing %q", fn, err, want)
	}
}

// An attacker's hash: if VerifyHash hashed before checking the bounds, each
// of these would take hours (bcrypt cost 31) or allocate 4 GiB (argon2id),
// and the test would time out or be killed instead of failing cleanly.
func TestVerifyHashRefusesBeforeHashing(t *testing.T) {
	for _, h := range []string{
		withBcryptCost(t, bcryptHash(t, "pw"), "31"),
		argonWith("m=4194304,t=1,p=1"),
		argonWith("m=64,t=4294967295,p=1"),
		argonWith("m=4194304,t=100,p=255"),
	} {
		if ok, err := VerifyHash(h, "pw"); ok || err == nil {
			t.Errorf("VerifyHash(%.30q…) = %v, %v; want refused", h, ok, err)
		}
	}
}

// Hashes at the upper bounds are real work the server must be able to do.
func TestHashesAtTheBoundsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes at the bounds take about a second")
	}
	// Precomputed hashes of "right", so only the verification costs. t=1
	// rather than MaxArgon2Time keeps the test fast: memory and lanes are
	// what could fail (t only repeats the passes).
	for _, h := range []string{
		"$argon2id$v=19$m=65536,t=1,p=4$MDEyMzQ1Njc4OWFiY2RlZg$Fh9YXL3IMx1y5jMEl4WPtYPrBHEfBloAge2oySXGzNM",
		"$2a$12$QhGM1mM3dBmUumhwYwuHo./uOuhOfNOuDKmdp88j9q6tm7upB4t1C",
	} {
		if ok, err := VerifyHash(h, "right"); !ok || err != nil {
			t.Errorf("VerifyHash(%.30q…) = %v, %v; want true, nil", h, ok, err)
		}
	}
}

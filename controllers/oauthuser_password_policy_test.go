package controllers

import "testing"

func TestNextPasswordGeneration(t *testing.T) {
	const d1, d2 = "digest-one", "digest-two"
	tests := []struct {
		name        string
		record      string
		statusGen   int64
		digest      string
		regenerated bool
		wantGen     int64
		wantChanged bool
	}{
		{"new user", "", 0, d1, false, 0, false},
		{"upgrade: no record, never counted", "", 0, d1, false, 0, false},
		{"same password", passwordRecord(0, d1), 0, d1, false, 0, false},
		{"same password, later generation", passwordRecord(3, d1), 3, d1, false, 3, false},
		{"changed", passwordRecord(0, d1), 0, d2, false, 1, true},
		{"changed again", passwordRecord(1, d2), 1, d1, false, 2, true},
		{"status patch lost after the record was written", passwordRecord(2, d2), 1, d2, false, 2, false},
		{"record edited to a lower generation", passwordRecord(0, d1), 4, d1, false, 4, false},
		{"record lost, user counted before", "", 2, d1, false, 3, true},
		{"record lost, password regenerated", "", 0, d1, true, 1, true},
		{"regenerated with a record", passwordRecord(1, d1), 1, d2, true, 2, true},
		{"garbage record, never counted", "x.y", 0, d1, false, 0, false},
		{"negative generation in the record", passwordRecord(-5, d1), 0, d1, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen, changed := nextPasswordGeneration(tt.record, tt.statusGen, tt.digest, tt.regenerated)
			if gen != tt.wantGen || changed != tt.wantChanged {
				t.Fatalf("got (%d, %v), want (%d, %v)", gen, changed, tt.wantGen, tt.wantChanged)
			}
		})
	}
}

func TestPasswordDigestSeparatesSources(t *testing.T) {
	if passwordDigest("Hash", "x") == passwordDigest("SecretRef", "x") {
		t.Fatal("the same material of two sources has one digest")
	}
	if passwordDigest("Hash", "x") != passwordDigest("Hash", "x") {
		t.Fatal("digest is not deterministic")
	}
}

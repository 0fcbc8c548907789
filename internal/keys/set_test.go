package keys

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"reflect"
	"testing"
)

// storedKeys returns an active and a next key of every algorithm as the
// token server reads them: encoded to the Secret's JSON and decoded again.
func storedKeys(t *testing.T) []Key {
	t.Helper()
	var ks []Key
	for _, alg := range []Algorithm{ES256, RS256, EdDSA} {
		a, err := GenerateKey(alg, t0)
		if err != nil {
			t.Fatal(err)
		}
		a.State = StateActive
		n, err := GenerateKey(alg, t0)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, a, n)
	}
	b, err := Encode(ks)
	if err != nil {
		t.Fatal(err)
	}
	ks, err = Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestNewSetPreparesSigners(t *testing.T) {
	ks := storedKeys(t)
	var nexts []Key
	for _, k := range ks {
		if k.State == StateNext {
			nexts = append(nexts, k)
		}
	}
	full, err := NewSet(ks)
	if err != nil {
		t.Fatal(err)
	}
	nextOnly, err := NewSet(nexts)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []Algorithm{ES256, RS256, EdDSA} {
		for _, typ := range []string{TypeAccessToken, TypeIDToken} {
			if _, ok := full.JWSSigner(alg, typ); !ok {
				t.Errorf("no %s signer for %s", alg, typ)
			}
			// Keys in state next are published but never sign.
			if _, ok := nextOnly.JWSSigner(alg, typ); ok {
				t.Errorf("a next %s key got a %s signer", alg, typ)
			}
		}
		if _, ok := full.JWSSigner(alg, "application/jwt"); ok {
			t.Errorf("%s signer for an unprepared typ", alg)
		}
	}
	for _, alg := range []Algorithm{"HS256", "none", ""} {
		if _, ok := full.JWSSigner(alg, TypeAccessToken); ok {
			t.Errorf("signer for %q", alg)
		}
	}
}

// An RSA key decoded from JSON lacks crypto/rsa's precomputed form; the set
// signs with a precomputed copy (a signature then allocates twice, not ~40
// times while rebuilding the key) and leaves the stored key untouched.
func TestNewSetPrecomputesRSAKeyCopy(t *testing.T) {
	ks := storedKeys(t)
	var stored *rsa.PrivateKey
	for _, k := range ks {
		if k.Algorithm == RS256 && k.State == StateActive {
			stored = k.Private.Key.(*rsa.PrivateKey)
		}
	}
	before := *stored
	set, err := NewSet(ks)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, *stored) {
		t.Error("NewSet modified the stored RSA key")
	}
	sg, _ := set.Signing(RS256)
	key := sg.Key.(*rsa.PrivateKey)
	if key == stored || !key.Equal(stored) {
		t.Fatal("signing key is not a copy of the stored key")
	}
	// The session MAC key is derived from these bytes: they must not change.
	a, errA := x509.MarshalPKCS8PrivateKey(key)
	b, errB := x509.MarshalPKCS8PrivateKey(&before)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("PKCS #8 encoding of the signing key differs from the stored key's (%v, %v)", errA, errB)
	}
	digest := sha256.Sum256([]byte("payload"))
	allocs := testing.AllocsPerRun(2, func() {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Errorf("RSA signature with the set's key allocates %v times: not precomputed", allocs)
	}
}

package tokens

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// storedSet is the fixture's key set as the token server gets it: encoded to
// the Secret's JSON and decoded again, so RSA keys arrive without crypto/rsa's
// precomputed form (keys generated in process have it).
var storedSet = sync.OnceValues(func() (*keys.Set, error) {
	f, err := loadFixture()
	if err != nil {
		return nil, err
	}
	var all []keys.Key
	for _, alg := range testAlgs {
		all = append(all, f.active[alg], f.next[alg])
	}
	b, err := keys.Encode(all)
	if err != nil {
		return nil, err
	}
	ks, err := keys.Decode(b)
	if err != nil {
		return nil, err
	}
	return keys.NewSet(ks)
})

func getStoredSet(tb testing.TB) *keys.Set {
	tb.Helper()
	set, err := storedSet()
	if err != nil {
		tb.Fatalf("stored set: %v", err)
	}
	return set
}

// A token minted with keys read back from the Secret verifies like one minted
// with the generated keys.
func TestMintWithStoredKeys(t *testing.T) {
	f, set := getFixture(t), getStoredSet(t)
	for _, alg := range testAlgs {
		c := accessClaims()
		tok, err := MintAccessToken(set, alg, c)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, err := Verify(tok, f.set, accessOpts()); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
}

func benchmarkMint(b *testing.B, set *keys.Set) {
	for _, alg := range testAlgs {
		b.Run(string(alg), func(b *testing.B) {
			c := accessClaims()
			c.JTI = "" // generated per token, as in production
			b.ReportAllocs()
			for b.Loop() {
				if _, err := MintAccessToken(set, alg, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMintAccessTokenStoredKeys mints with keys decoded from the
// Secret's JSON, the production path.
func BenchmarkMintAccessTokenStoredKeys(b *testing.B) {
	benchmarkMint(b, getStoredSet(b))
}

// BenchmarkRSASignBaseline is the floor of an RS256 mint: one PKCS #1 v1.5
// signature of a SHA-256 digest with the same 2048-bit key, precomputed.
func BenchmarkRSASignBaseline(b *testing.B) {
	sg, ok := getStoredSet(b).Signing(keys.RS256)
	if !ok {
		b.Fatal("no RS256 key")
	}
	key := sg.Key.(*rsa.PrivateKey)
	digest := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0In0"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintWithJWTBuilder mints the same access token with go-jose's
// jwt.Signed(...).Claims(...).Serialize(), the measure behind encoding the
// claims here: the builder re-decodes each Claims struct into a map and
// encodes the merged map again.
func BenchmarkMintWithJWTBuilder(b *testing.B) {
	set := getStoredSet(b)
	for _, alg := range testAlgs {
		b.Run(string(alg), func(b *testing.B) {
			s, ok := set.JWSSigner(alg, TypeAccessToken)
			if !ok {
				b.Fatal("no signer")
			}
			c := accessClaims()
			b.ReportAllocs()
			for b.Loop() {
				iat := c.IssuedAt.Unix()
				p := accessPayload{
					Issuer: c.Issuer, Subject: c.Subject, Audience: audienceClaim(c.Audience),
					IssuedAt: iat, NotBefore: iat, Expiry: c.IssuedAt.Add(c.TTL).Unix(),
					JTI: NewJTI(), ClientID: c.ClientID, Scope: c.Scope,
				}
				if _, err := jwt.Signed(s).Claims(p).Serialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

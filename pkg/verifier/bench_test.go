package verifier_test

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

// BenchmarkVerifyCachedKey is one verification with the key in the cache:
// parse, allowlist, typ, ES256 (or RS256) signature, claims.
func BenchmarkVerifyCachedKey(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			iss := newIssuer(b)
			kid := iss.rotate(alg)
			v := newVerifier(b, iss, func(c *verifier.Config) {
				c.Clock = clocktesting.NewFakePassiveClock(epoch)
				c.Algorithms = []string{string(alg)}
			})
			tok := iss.sign(iss.claims(epoch), "at+jwt", kid)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGoJoseFloor is the floor under BenchmarkVerifyCachedKey: go-jose
// alone parsing the same token and checking its signature into jwt.Claims,
// with no policy at all.
func BenchmarkGoJoseFloor(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			iss := newIssuer(b)
			kid := iss.rotate(alg)
			tok := iss.sign(iss.claims(epoch), "at+jwt", kid)
			iss.mu.Lock()
			priv := iss.keys[kid]
			iss.mu.Unlock()
			pub := priv.Public()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{alg})
				if err != nil {
					b.Fatal(err)
				}
				var c jwt.Claims
				if err := parsed.Claims(pub.Key, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

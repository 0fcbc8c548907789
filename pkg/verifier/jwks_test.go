package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

func TestJWKSCachingHonoursMaxAgeAndETag(t *testing.T) {
	iss := newIssuer(t)
	iss.maxAge = "public, max-age=600"
	clk := clocktesting.NewFakePassiveClock(epoch)
	v := newVerifier(t, iss, func(c *verifier.Config) { c.Clock = clk })
	verify := func(at time.Time) {
		t.Helper()
		clk.SetTime(at)
		if _, err := v.Verify(context.Background(), iss.sign(iss.claims(at), "at+jwt")); err != nil {
			t.Fatal(err)
		}
	}
	verify(epoch.Add(9 * time.Minute))
	if n := iss.jwksFetches.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	// Past max-age: one conditional request, answered 304.
	verify(epoch.Add(11 * time.Minute))
	verify(epoch.Add(12 * time.Minute))
	if n, nm := iss.jwksFetches.Load(), iss.notModified.Load(); n != 2 || nm != 1 {
		t.Fatalf("fetches %d, not modified %d; want 2 and 1", n, nm)
	}
	// The issuer becomes unreachable: the cached keys keep working.
	iss.Close()
	verify(epoch.Add(30 * time.Minute))
}

func TestUnknownKidRefetchIsBoundedAndRateLimited(t *testing.T) {
	iss := newIssuer(t)
	clk := clocktesting.NewFakePassiveClock(epoch)
	v := newVerifier(t, iss, func(c *verifier.Config) { c.Clock = clk; c.MinRefetchInterval = 10 * time.Second })
	old := iss.signer
	oldToken := iss.sign(iss.claims(epoch), "at+jwt")

	// Rotation: a burst of tokens with the new kid costs one fetch.
	clk.SetTime(epoch.Add(time.Minute))
	iss.rotate(jose.ES256)
	newToken := iss.sign(iss.claims(clk.Now()), "at+jwt")
	verifyConcurrently(t, v, newToken, 50, nil)
	if n := iss.jwksFetches.Load(); n != 2 {
		t.Fatalf("%d fetches after a rotation, want 2 (start + one refetch)", n)
	}

	// Forged kids: refused, and at most one fetch per interval.
	forged := func() string {
		kid := iss.rotate(jose.ES256)
		defer iss.remove(kid)
		return iss.sign(iss.claims(clk.Now()), "at+jwt")
	}
	clk.SetTime(epoch.Add(2 * time.Minute))
	for range 20 {
		if _, err := v.Verify(context.Background(), forged()); !errors.Is(err, verifier.ErrInvalidToken) {
			t.Fatalf("forged kid: err = %v", err)
		}
	}
	if n := iss.jwksFetches.Load(); n != 3 {
		t.Fatalf("%d fetches after 20 unknown kids, want 3", n)
	}

	// Compromised key removed: once the verifier has refetched (for a new
	// kid), the old key's tokens are refused.
	iss.remove(old)
	clk.SetTime(epoch.Add(3 * time.Minute))
	iss.rotate(jose.ES256)
	verifyConcurrently(t, v, iss.sign(iss.claims(clk.Now()), "at+jwt"), 10, nil)
	if _, err := v.Verify(context.Background(), oldToken); !errors.Is(err, verifier.ErrInvalidToken) {
		t.Fatalf("token of a removed key: err = %v", err)
	}
	if n := iss.jwksFetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
}

func verifyConcurrently(t *testing.T, v *verifier.Verifier, token string, n int, want error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), token); !errors.Is(err, want) {
				errs <- fmt.Errorf("err = %v, want %v", err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestUnreachableJWKSIsUnavailable(t *testing.T) {
	iss := newIssuer(t)
	iss.jwksDown.Store(true)
	clk := clocktesting.NewFakePassiveClock(epoch)
	v := newVerifier(t, iss, func(c *verifier.Config) { c.Clock = clk })
	tok := iss.sign(iss.claims(epoch), "at+jwt")
	// No keys at all: the verifier cannot decide, which is not the token's
	// fault.
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	// Back up: the next attempt after the refetch interval succeeds.
	iss.jwksDown.Store(false)
	clk.SetTime(epoch.Add(2 * time.Second))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSFetchesPer10000VerificationsAcrossRotation is the measure of the
// issue: 10,000 verifications over one key rotation, with time passing
// within max-age, cost the first fetch and one refetch.
func TestJWKSFetchesPer10000VerificationsAcrossRotation(t *testing.T) {
	iss := newIssuer(t)
	clk := clocktesting.NewFakePassiveClock(epoch)
	v := newVerifier(t, iss, func(c *verifier.Config) { c.Clock = clk })
	tok := iss.sign(iss.claims(epoch), "at+jwt")
	for i := range 10_000 {
		if i == 5_000 {
			iss.rotate(jose.ES256)
			tok = iss.sign(iss.claims(clk.Now()), "at+jwt")
		}
		if i%100 == 0 {
			clk.SetTime(clk.Now().Add(time.Second))
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("verification %d: %v", i, err)
		}
	}
	n := iss.jwksFetches.Load()
	t.Logf("JWKS fetches per 10,000 verifications across one rotation: %d", n)
	if n < 1 || n > 2 {
		t.Errorf("%d JWKS fetches, want 1-2", n)
	}
}

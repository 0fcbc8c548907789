package password

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The dummy hashes are valid, of their algorithm, at the default parameters.
func TestDummyHashesAtDefaults(t *testing.T) {
	if AlgorithmOf(Dummy(Bcrypt)) != Bcrypt || AlgorithmOf(Dummy(Argon2id)) != Argon2id || Dummy("md5") != Dummy(Bcrypt) {
		t.Fatalf("Dummy/AlgorithmOf disagree")
	}
	if AlgorithmOf("{SHA}x") != "" {
		t.Errorf("AlgorithmOf(unknown) != \"\"")
	}
	cost, err := bcrypt.Cost([]byte(Dummy(Bcrypt)))
	if err != nil || cost != DefaultBcryptCost || DefaultBcryptCost != bcrypt.DefaultCost {
		t.Errorf("bcrypt dummy cost = %d, %v; want %d", cost, err, DefaultBcryptCost)
	}
	p, err := parseArgon2id(Dummy(Argon2id))
	if err != nil || p.memoryKiB != DefaultArgon2Memory || p.time != DefaultArgon2Time || p.threads != DefaultArgon2Parallelism || len(p.key) != 32 {
		t.Errorf("argon2id dummy = %+v, %v; want the defaults", p, err)
	}
	for _, alg := range []Algorithm{Bcrypt, Argon2id} {
		if err := ParseHash(Dummy(alg)); err != nil {
			t.Errorf("ParseHash(Dummy(%s)) = %v", alg, err)
		}
	}
}

// VerifyDummy hashes the dummy of the asked algorithm in a limiter slot.
func TestVerifyDummyTakesASlot(t *testing.T) {
	g := newGatedVerify()
	l := NewLimiter(1)
	c := NewCache(10, time.Minute, newFakeClock().Now, WithLimiter(l))
	c.verify = g.verify
	done := make(chan error)
	go func() { done <- c.VerifyDummy(Argon2id, "right") }()
	<-g.entered
	if l.InUse() != 1 || g.lastHash.Load() != Dummy(Argon2id) {
		t.Fatalf("InUse %d, hashed %v; want 1, the argon2id dummy", l.InUse(), g.lastHash.Load())
	}
	if _, err := c.Verify("u", "1", "h", "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify while a dummy holds the only slot = %v, want ErrBusy", err)
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatalf("VerifyDummy = %v", err)
	}
	if err := c.VerifyDummy(Bcrypt, "x"); err != nil || g.lastHash.Load() != Dummy(Bcrypt) {
		t.Fatalf("VerifyDummy(Bcrypt) = %v, hashed %v", err, g.lastHash.Load())
	}
}

// BenchmarkUnknownVsKnownUser measures what issue 12 calls the username
// oracle: a wrong password for a user hashed at the defaults (a cache miss)
// against an unknown user's VerifyDummy, interleaved so both see the same
// load, reporting each median:
//
//	go test ./internal/password -run '^$' -bench UnknownVsKnown -benchtime 30x
func BenchmarkUnknownVsKnownUser(b *testing.B) {
	known := map[Algorithm]string{
		Bcrypt:   bcryptAtCost(b, "the user's password", DefaultBcryptCost),
		Argon2id: argon2idHash("the user's password", []byte("a salt of 16 b!!"), DefaultArgon2Memory, DefaultArgon2Time, DefaultArgon2Parallelism, 32),
	}
	for _, alg := range []Algorithm{Bcrypt, Argon2id} {
		b.Run(string(alg), func(b *testing.B) {
			c := NewCache(100, time.Minute, time.Now, WithLimiter(NewLimiter(1)))
			var k, u []time.Duration
			for i := 0; i < b.N; i++ {
				guess := fmt.Sprintf("guess %d", i)
				start := time.Now()
				if ok, err := c.Verify("uid", "1", known[alg], guess); ok || err != nil {
					b.Fatalf("Verify = %v, %v", ok, err)
				}
				mid := time.Now()
				if err := c.VerifyDummy(alg, guess); err != nil {
					b.Fatal(err)
				}
				k, u = append(k, mid.Sub(start)), append(u, time.Since(mid))
			}
			b.ReportMetric(median(k).Seconds()*1000, "known-median-ms")
			b.ReportMetric(median(u).Seconds()*1000, "unknown-median-ms")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

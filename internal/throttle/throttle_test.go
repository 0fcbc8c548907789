package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// newFakeClock is the clock the tests step by hand.
func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

func wantAllowed(t *testing.T, l *Limiter, key string) {
	t.Helper()
	if ok, retry := l.Allow(key); !ok || retry != 0 {
		t.Fatalf("Allow(%q) = %v, %v; want true, 0", key, ok, retry)
	}
}

func wantBlocked(t *testing.T, l *Limiter, key string, retry time.Duration) {
	t.Helper()
	ok, got := l.Allow(key)
	if ok {
		t.Fatalf("Allow(%q) = true, want blocked for %v", key, retry)
	}
	if got <= 0 || got > l.cfg.Window {
		t.Fatalf("Allow(%q) retry = %v, want in (0, %v]", key, got, l.cfg.Window)
	}
	if retry != 0 && got != retry {
		t.Fatalf("Allow(%q) retry = %v, want %v", key, got, retry)
	}
}

// stored returns the failure timestamps held for key.
func (l *Limiter) stored(key string) ([]time.Time, bool) {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	if !ok {
		return nil, false
	}
	return append([]time.Time(nil), e.fails...), true
}

// sameShardKeys returns n distinct keys that all land in one shard of l.
func sameShardKeys(t *testing.T, l *Limiter, prefix string, n int) []string {
	t.Helper()
	first := prefix + "0"
	keys := []string{first}
	target := l.shard(first)
	for i := 1; len(keys) < n; i++ {
		if i > 100000 {
			t.Fatal("could not find keys in one shard")
		}
		k := fmt.Sprintf("%s%d", prefix, i)
		if l.shard(k) == target {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestDefaultConfigs(t *testing.T) {
	u, s := DefaultUserConfig(), DefaultSourceConfig()
	if u.MaxFailures != 10 || u.Window != 5*time.Minute || u.MaxKeys != 100000 {
		t.Errorf("DefaultUserConfig = %+v", u)
	}
	if s.MaxFailures != 50 || s.Window != 5*time.Minute || s.MaxKeys != 100000 {
		t.Errorf("DefaultSourceConfig = %+v", s)
	}
}

func TestLimiterBlocksAfterMaxFailuresAndRecovers(t *testing.T) {
	clk := newFakeClock()
	const window = 5 * time.Minute
	l := New(Config{MaxFailures: 3, Window: window, MaxKeys: 1000}, clk.Now)

	wantAllowed(t, l, "alice")
	l.Fail("alice") // t0
	wantAllowed(t, l, "alice")
	clk.Step(time.Minute)
	l.Fail("alice") // t0+1m
	wantAllowed(t, l, "alice")
	clk.Step(time.Minute)
	l.Fail("alice") // t0+2m: third failure blocks

	// Allowed again when the oldest of the 3 failures (t0) ages out at t0+5m.
	wantBlocked(t, l, "alice", 3*time.Minute)
	clk.Step(time.Minute)
	wantBlocked(t, l, "alice", 2*time.Minute)

	// Refused attempts do not extend the block.
	for i := 0; i < 20; i++ {
		l.Allow("alice")
	}
	wantBlocked(t, l, "alice", 2*time.Minute)

	clk.Step(2*time.Minute - time.Nanosecond)
	wantBlocked(t, l, "alice", time.Nanosecond)
	clk.Step(time.Nanosecond) // exactly t0+window
	wantAllowed(t, l, "alice")

	// Two failures (t0+1m, t0+2m) still count: one more blocks again, until
	// t0+1m ages out.
	l.Fail("alice") // t0+5m
	wantBlocked(t, l, "alice", time.Minute)
	clk.Step(time.Minute)
	wantAllowed(t, l, "alice")

	// After a full window without failures, the whole budget is back.
	clk.Step(window)
	for i := 0; i < 2; i++ {
		l.Fail("alice")
		wantAllowed(t, l, "alice")
	}
	l.Fail("alice")
	wantBlocked(t, l, "alice", window)
}

func TestLimiterMaxFailuresOne(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{MaxFailures: 1, Window: time.Minute, MaxKeys: 10}, clk.Now)
	wantAllowed(t, l, "k")
	l.Fail("k")
	wantBlocked(t, l, "k", time.Minute)
	clk.Step(time.Minute)
	wantAllowed(t, l, "k")
}

// However an attacker behaves (even if a caller records failures while the key
// is blocked), the block always ends at most one window after the last
// failure, and the retry-after it announces is accurate.
func TestLimiterNeverLocksOut(t *testing.T) {
	clk := newFakeClock()
	const window = 5 * time.Minute
	l := New(Config{MaxFailures: 4, Window: window, MaxKeys: 100}, clk.Now)

	// Hammer: a failure every 10 s for an hour, regardless of Allow.
	for i := 0; i < 360; i++ {
		l.Fail("mallory")
		clk.Step(10 * time.Second)
		if f, _ := l.stored("mallory"); len(f) > 4 {
			t.Fatalf("%d timestamps stored for one key, want at most MaxFailures=4", len(f))
		}
	}
	ok, retry := l.Allow("mallory")
	if ok || retry <= 0 || retry > window {
		t.Fatalf("after hammering: Allow = %v, %v; want blocked with retry in (0, %v]", ok, retry, window)
	}
	clk.Step(retry - time.Nanosecond)
	if ok, _ := l.Allow("mallory"); ok {
		t.Fatal("allowed before the announced retry-after")
	}
	clk.Step(time.Nanosecond)
	wantAllowed(t, l, "mallory")

	// A well-behaved guesser (fails only when allowed) gets MaxFailures
	// guesses per window: never zero in any window.
	l2 := New(Config{MaxFailures: 4, Window: window, MaxKeys: 100}, clk.Now)
	attempts := 0
	const minutes = 60
	for s := 0; s < minutes*60; s += 5 {
		if ok, retry := l2.Allow("bob"); ok {
			attempts++
			l2.Fail("bob")
		} else if retry <= 0 || retry > window {
			t.Fatalf("retry %v out of (0, %v]", retry, window)
		}
		clk.Step(5 * time.Second)
	}
	if want := 4 * minutes / 5; attempts < want || attempts > want+4 {
		t.Errorf("%d attempts in %d minutes, want about %d (4 per 5-minute window)", attempts, minutes, want)
	}
}

func TestLimiterSucceedClears(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{MaxFailures: 2, Window: time.Hour, MaxKeys: 100}, clk.Now)
	l.Fail("a")
	l.Fail("a")
	wantBlocked(t, l, "a", time.Hour)
	l.Succeed("a")
	wantAllowed(t, l, "a")
	if _, ok := l.stored("a"); ok {
		t.Error("Succeed left the key stored")
	}
	// Full budget again: one failure does not block.
	l.Fail("a")
	wantAllowed(t, l, "a")
	l.Fail("a")
	wantBlocked(t, l, "a", time.Hour)

	// Succeed on an unknown key is harmless.
	l.Succeed("never-seen")
	wantBlocked(t, l, "a", time.Hour)
}

func TestLimiterKeysIndependent(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{MaxFailures: 2, Window: time.Minute, MaxKeys: 1000}, clk.Now)
	l.Fail("a")
	l.Fail("a")
	l.Fail("b")
	wantBlocked(t, l, "a", time.Minute)
	wantAllowed(t, l, "b")
	wantAllowed(t, l, "c")
	// Same-shard keys are independent too.
	keys := sameShardKeys(t, l, "s", 3)
	l.Fail(keys[0])
	l.Fail(keys[0])
	wantBlocked(t, l, keys[0], time.Minute)
	wantAllowed(t, l, keys[1])
	l.Succeed(keys[1])
	wantBlocked(t, l, keys[0], time.Minute)
	l.Succeed(keys[0])
	wantAllowed(t, l, keys[0])
	wantBlocked(t, l, "a", time.Minute)
	if got := l.Len(); got != 2 { // a, b
		t.Errorf("Len = %d, want 2", got)
	}
}

func TestLimiterDisabledAndNil(t *testing.T) {
	clk := newFakeClock()
	for _, maxF := range []int{0, -1} {
		l := New(Config{MaxFailures: maxF, Window: time.Minute, MaxKeys: 10}, clk.Now)
		for i := 0; i < 100; i++ {
			l.Fail("k")
		}
		wantAllowed(t, l, "k")
		if l.Len() != 0 {
			t.Errorf("MaxFailures %d: Len = %d, want 0", maxF, l.Len())
		}
	}
	var l *Limiter
	if ok, retry := l.Allow("k"); !ok || retry != 0 {
		t.Errorf("nil Allow = %v, %v", ok, retry)
	}
	l.Fail("k")
	l.Succeed("k")
}

func TestLimiterLenAndSucceedShrink(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{MaxFailures: 5, Window: time.Minute, MaxKeys: 0}, clk.Now)
	for i := 0; i < 100; i++ {
		l.Fail(fmt.Sprintf("k%d", i))
		l.Fail(fmt.Sprintf("k%d", i)) // same key: no new entry
	}
	if got := l.Len(); got != 100 {
		t.Fatalf("Len = %d, want 100 (MaxKeys 0 is unbounded)", got)
	}
	for i := 0; i < 40; i++ {
		l.Succeed(fmt.Sprintf("k%d", i))
	}
	if got := l.Len(); got != 60 {
		t.Fatalf("Len after 40 Succeed = %d, want 60", got)
	}
}

// Memory is bounded: each shard holds at most max(1, MaxKeys/shards) keys.
func TestLimiterBoundedByMaxKeys(t *testing.T) {
	for _, maxKeys := range []int{1, 32, 64, 320} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			clk := newFakeClock()
			l := New(Config{MaxFailures: 3, Window: time.Hour, MaxKeys: maxKeys}, clk.Now)
			perShard := max(1, maxKeys/shards)
			limit := perShard * shards
			for i := 0; i < 5000; i++ {
				l.Fail(fmt.Sprintf("key-%d", i))
				if i%500 == 0 {
					clk.Step(time.Second)
				}
			}
			if got := l.Len(); got > limit || got < limit*3/4 {
				t.Errorf("Len = %d, want at most %d (and close to it)", got, limit)
			}
			for i := range l.shards {
				if n := len(l.shards[i].keys); n > perShard {
					t.Errorf("shard %d holds %d keys, want at most %d", i, n, perShard)
				}
			}
		})
	}
}

// Eviction happens when a new key arrives in a full shard: keys whose
// failures all expired go first, and only then the key with the oldest last
// failure. Len therefore stays at the shard bound while old entries are
// replaced.
func TestLimiterEviction(t *testing.T) {
	clk := newFakeClock()
	const window = 10 * time.Minute
	// MaxKeys 64 over 32 shards: 2 keys per shard.
	l := New(Config{MaxFailures: 2, Window: window, MaxKeys: 64}, clk.Now)
	k := sameShardKeys(t, l, "u", 5)

	l.Fail(k[0]) // t0, will expire
	clk.Step(5 * time.Minute)
	l.Fail(k[1]) // t0+5m, blocked
	l.Fail(k[1])
	if got := l.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}

	// t0+11m: k0 expired, k1 still blocked. A new key evicts k0, not k1.
	clk.Step(6 * time.Minute)
	l.Fail(k[2])
	if _, ok := l.stored(k[0]); ok {
		t.Error("expired key k0 was not evicted")
	}
	if _, ok := l.stored(k[1]); !ok {
		t.Fatal("live key k1 was evicted while an expired key was available")
	}
	wantBlocked(t, l, k[1], 4*time.Minute)
	if got := l.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2 (bounded)", got)
	}

	// t0+12m: both k1 (last failure t0+5m) and k2 (t0+11m) live. A new key
	// evicts the stalest, k1.
	clk.Step(time.Minute)
	l.Fail(k[3])
	if _, ok := l.stored(k[1]); ok {
		t.Error("stalest key k1 was not evicted")
	}
	if _, ok := l.stored(k[2]); !ok {
		t.Error("fresher key k2 was evicted instead of k1")
	}
	if _, ok := l.stored(k[3]); !ok {
		t.Error("new key k3 was not stored")
	}

	// An existing key in a full shard does not evict anything.
	l.Fail(k[2])
	if _, ok := l.stored(k[3]); !ok {
		t.Error("failing an existing key evicted another")
	}
	if got := l.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}

	// Succeed frees room: the next new key needs no eviction, and Len shrinks.
	l.Succeed(k[2])
	if got := l.Len(); got != 1 {
		t.Fatalf("Len after Succeed = %d, want 1", got)
	}
	l.Fail(k[4])
	if _, ok := l.stored(k[3]); !ok {
		t.Error("a key was evicted although the shard had room")
	}
}

// Keys in other shards are not affected by a full shard.
func TestLimiterEvictionIsPerShard(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{MaxFailures: 2, Window: time.Hour, MaxKeys: 32}, clk.Now) // 1 per shard
	l.Fail("victim")
	l.Fail("victim")
	victimShard := l.shard("victim")
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("other-%d", i)
		if l.shard(k) != victimShard {
			l.Fail(k)
		}
	}
	wantBlocked(t, l, "victim", time.Hour)
}

func TestThrottleCheck(t *testing.T) {
	clk := newFakeClock()
	users := Config{MaxFailures: 2, Window: 2 * time.Minute, MaxKeys: 100}
	sources := Config{MaxFailures: 3, Window: 10 * time.Minute, MaxKeys: 100}
	th := NewThrottle(users, sources, clk.Now)

	if ok, retry := th.Check("alice", "10.0.0.1"); !ok || retry != 0 {
		t.Fatalf("fresh Check = %v, %v", ok, retry)
	}

	// A user over its limit from one source is blocked from that source
	// only: a guesser cannot lock the owner out.
	th.Failed("alice", "10.0.0.1")
	th.Failed("alice", "10.0.0.1")
	if ok, retry := th.Check("alice", "10.0.0.1"); ok || retry != 2*time.Minute {
		t.Errorf("Check(alice, 10.0.0.1) = %v, %v; want false, 2m", ok, retry)
	}
	for _, src := range []string{"10.0.0.2", "10.0.0.3"} {
		if ok, _ := th.Check("alice", src); !ok {
			t.Errorf("alice locked out from %s by failures from 10.0.0.1", src)
		}
	}
	// Other users from that source are fine (the source has 2 of 3).
	if ok, _ := th.Check("bob", "10.0.0.1"); !ok {
		t.Error("bob blocked by alice's failures")
	}

	// Source over its limit blocks every user from it.
	th.Failed("carol", "10.0.0.9")
	th.Failed("dave", "10.0.0.9")
	th.Failed("erin", "10.0.0.9")
	for _, u := range []string{"carol", "dave", "frank"} {
		if ok, retry := th.Check(u, "10.0.0.9"); ok || retry != 10*time.Minute {
			t.Errorf("Check(%s, 10.0.0.9) = %v, %v; want false, 10m", u, ok, retry)
		}
	}
	if ok, _ := th.Check("frank", "10.0.0.8"); !ok {
		t.Error("frank blocked from another source")
	}

	// Both over: the longer retry wins.
	th.Failed("carol", "10.0.0.9") // carol from .9: 2 of 2, and the source is over too
	clk.Step(time.Minute)
	if ok, retry := th.Check("carol", "10.0.0.9"); ok || retry != 9*time.Minute {
		t.Errorf("Check(carol, 10.0.0.9) = %v, %v; want false, 9m (the source's)", ok, retry)
	}
	clk.Step(time.Minute) // alice's block from .1 ends, the source .9's does not
	if ok, _ := th.Check("alice", "10.0.0.1"); !ok {
		t.Error("alice still blocked after the user window")
	}
	if ok, retry := th.Check("alice", "10.0.0.9"); ok || retry != 8*time.Minute {
		t.Errorf("Check(alice, 10.0.0.9) = %v, %v; want false, 8m", ok, retry)
	}
}

func TestThrottleFailedCountsBoth(t *testing.T) {
	clk := newFakeClock()
	cfg := Config{MaxFailures: 2, Window: time.Minute, MaxKeys: 100}
	th := NewThrottle(cfg, cfg, clk.Now)
	th.Failed("u", "s")
	if ok, _ := th.Users.Allow(UserKey("u", "s")); !ok {
		t.Fatal("one failure blocked the user")
	}
	th.Failed("u", "s")
	if ok, _ := th.Users.Allow(UserKey("u", "s")); ok {
		t.Error("Failed did not count against the user")
	}
	if ok, _ := th.Sources.Allow("s"); ok {
		t.Error("Failed did not count against the source")
	}
	// Keys are not shared between the two limiters.
	if ok, _ := th.Users.Allow("s"); !ok {
		t.Error("source failure counted as a user failure")
	}
	if ok, _ := th.Sources.Allow("u"); !ok {
		t.Error("user failure counted as a source failure")
	}
}

func TestThrottleSucceededClearsOnlyUser(t *testing.T) {
	clk := newFakeClock()
	cfg := Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 100}
	th := NewThrottle(cfg, cfg, clk.Now)
	th.Failed("u", "s")
	th.Failed("u", "s")
	th.Succeeded("u", "s")
	if _, ok := th.Users.stored(UserKey("u", "s")); ok {
		t.Error("Succeeded did not clear the user")
	}
	if f, _ := th.Sources.stored("s"); len(f) != 2 {
		t.Errorf("source holds %d failures after Succeeded, want 2", len(f))
	}
	// The user has its full budget back, the source does not: a third failure
	// by another user blocks the source.
	th.Failed("v", "s")
	if ok, _ := th.Check("u", "s"); ok {
		t.Error("source budget was reset by a user's success")
	}
	if ok, _ := th.Check("u", "other"); !ok {
		t.Error("user not cleared")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	clk := newFakeClock()
	const goroutines = 20
	l := New(Config{MaxFailures: goroutines, Window: time.Hour, MaxKeys: 64}, clk.Now)
	l2 := New(Config{MaxFailures: goroutines + 1, Window: time.Hour, MaxKeys: 64}, clk.Now)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-start
			// Every goroutine fails the shared key exactly once...
			l.Fail("shared")
			l2.Fail("shared")
			// ...and churns private keys, evictions and reads.
			for i := 0; i < 200; i++ {
				k := fmt.Sprintf("g%d-%d", g, i)
				l.Fail(k)
				l.Allow(k)
				if i%3 == 0 {
					l.Succeed(k)
				}
				if i%50 == 0 {
					_ = l.Len()
					clk.Step(time.Millisecond)
				}
			}
		}(g)
	}
	close(start)
	wg.Wait()

	// No failure of "shared" was lost: exactly `goroutines` were recorded.
	// ("shared" may have been evicted from l by churn, so check l2, which
	// saw no churn.)
	if ok, _ := l2.Allow("shared"); !ok {
		t.Error("l2 blocked with fewer failures than its limit")
	}
	if f, _ := l2.stored("shared"); len(f) != goroutines {
		t.Errorf("l2 recorded %d failures, want %d", len(f), goroutines)
	}
	l2.Fail("shared")
	if ok, _ := l2.Allow("shared"); ok {
		t.Error("l2 not blocked after its limit")
	}
	if n := l.Len(); n > 64 {
		t.Errorf("Len = %d, want at most 64", n)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	clk := newFakeClock()
	users := Config{MaxFailures: 5, Window: time.Minute, MaxKeys: 1000}
	sources := Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000}
	th := NewThrottle(users, sources, clk.Now)
	const goroutines, perG = 10, 50
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				user := fmt.Sprintf("user-%d", i%7)
				src := fmt.Sprintf("10.0.%d.%d", g%3, i%5)
				th.Check(user, src)
				th.Failed(user, src)
				if i%10 == 9 {
					th.Succeeded(fmt.Sprintf("user-%d", (i+1)%7), src)
				}
			}
		}(g)
	}
	wg.Wait()
	// Users: at most MaxFailures timestamps each.
	for i := 0; i < 7; i++ {
		if f, _ := th.Users.stored(fmt.Sprintf("user-%d", i)); len(f) > users.MaxFailures {
			t.Errorf("user-%d holds %d failures", i, len(f))
		}
	}
	// Sources never see Succeeded: every failure is counted.
	total := 0
	for g := 0; g < 3; g++ {
		for j := 0; j < 5; j++ {
			f, _ := th.Sources.stored(fmt.Sprintf("10.0.%d.%d", g, j))
			total += len(f)
		}
	}
	if total != goroutines*perG {
		t.Errorf("sources recorded %d failures, want %d", total, goroutines*perG)
	}
}

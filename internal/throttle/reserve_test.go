package throttle

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSourceKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"192.0.2.7:4431", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"in-process", "in-process"},
		{"", ""},
		{"2001:db8:1:2::/64", "2001:db8:1:2::/64"}, // idempotent
	}
	for _, tt := range tests {
		if got := SourceKey(tt.in); got != tt.want {
			t.Errorf("SourceKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// guesser runs one guess: Reserve, then a verification that waits for gate
// (nil: does not wait), then Failed. It counts verifications and the most
// that ran at once.
type guesser struct {
	th                     *Throttle
	gate                   chan struct{}
	verified, running, top atomic.Int64
}

func (g *guesser) guess(user, source string) bool { return g.guessThen(user, source, func() {}) }

// guessThen calls decided once Reserve has answered, before verifying.
func (g *guesser) guessThen(user, source string, decided func()) bool {
	r, ok, retry := g.th.Reserve(user, source)
	decided()
	if !ok {
		if retry <= 0 {
			panic("refused without a retry")
		}
		return false
	}
	defer r.Cancel()
	g.verified.Add(1)
	n := g.running.Add(1)
	for m := g.top.Load(); n > m && !g.top.CompareAndSwap(m, n); m = g.top.Load() {
	}
	if g.gate != nil {
		<-g.gate
	}
	g.running.Add(-1)
	r.Failed()
	return true
}

// burst runs n concurrent guesses; who(i) is the i-th guess's user and
// source. With a gate, verifications are held until every guess was made.
func (g *guesser) burst(n int, who func(i int) (string, string)) {
	var wg, decided sync.WaitGroup
	decided.Add(n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, s := who(i)
			<-start
			g.guessThen(u, s, decided.Done)
		}()
	}
	close(start)
	if g.gate != nil {
		decided.Wait()
		close(g.gate)
	}
	wg.Wait()
}

// The attack of issue 12: 200 concurrent wrong guesses from one address. With
// Check-then-Failed all 200 reached verification against a budget of 10.
func TestReserveBurstFromOneSource(t *testing.T) {
	users := Config{MaxFailures: 10, Window: 5 * time.Minute, MaxKeys: 1000}
	sources := Config{MaxFailures: 50, Window: 5 * time.Minute, MaxKeys: 1000}
	tests := []struct {
		name         string
		gated        bool
		who          func(i int) (string, string)
		max, mostAt1 int64
		budget       int64
	}{
		// Verifications held open: only one per (user, source) at a time.
		{"one user, verifications held", true, func(int) (string, string) { return "alice", "203.0.113.7" }, 1, 1, 10},
		// Verifications as fast as they come: never more than the budget.
		{"one user, verifications free", false, func(int) (string, string) { return "alice", "203.0.113.7" }, 10, 1, 10},
		// Many users from one source: the source budget.
		{"200 users, verifications held", true, func(i int) (string, string) { return fmt.Sprint("user-", i), "203.0.113.7" }, 50, 50, 50},
		{"200 users, verifications free", false, func(i int) (string, string) { return fmt.Sprint("user-", i), "203.0.113.7" }, 50, 50, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &guesser{th: NewThrottle(users, sources, newFakeClock().Now)}
			if tt.gated {
				g.gate = make(chan struct{})
			}
			g.burst(200, tt.who)
			t.Logf("200 concurrent guesses: %d reached verification, at most %d at once", g.verified.Load(), g.top.Load())
			if g.verified.Load() > tt.max || g.verified.Load() == 0 {
				t.Errorf("%d guesses reached verification, want 1..%d", g.verified.Load(), tt.max)
			}
			if g.top.Load() > tt.mostAt1 {
				t.Errorf("%d verifications ran at once, want at most %d", g.top.Load(), tt.mostAt1)
			}
			// Then sequential guesses until refused: the budget is all there was.
			for i := 0; i < 200; i++ {
				u, s := tt.who(i)
				g.guess(u, s)
			}
			if g.verified.Load() != tt.budget {
				t.Errorf("%d guesses reached verification in all, want the budget %d", g.verified.Load(), tt.budget)
			}
		})
	}
}

// 1,000 addresses of one /64 guessing one user share one budget (issue 12:
// 1,000 of 1,000 were allowed when each /128 had its own).
func TestIPv6SlashSixtyFourSharesBudget(t *testing.T) {
	th := NewThrottle(DefaultUserConfig(), DefaultSourceConfig(), newFakeClock().Now)
	base := netip.MustParseAddr("2001:db8:1:2::")
	addr := func(i int) string {
		b := base.As16()
		b[8], b[12], b[14], b[15] = byte(i*7), byte(i>>8), byte(i), byte(i*13)
		return netip.AddrFrom16(b).String()
	}
	g := &guesser{th: th}
	g.burst(1000, func(i int) (string, string) { return "alice", addr(i) })
	for i := 0; i < 1000; i++ {
		g.guess("alice", addr(i))
	}
	if n := g.verified.Load(); n > int64(DefaultUserConfig().MaxFailures) {
		t.Errorf("1000 addresses of one /64: %d guesses at alice verified, want at most %d", n, DefaultUserConfig().MaxFailures)
	}
	// Across users the /64 has the source budget.
	for i := 0; i < 1000; i++ {
		g.guess(fmt.Sprint("user-", i), addr(i))
	}
	if n := g.verified.Load(); n > int64(DefaultSourceConfig().MaxFailures) {
		t.Errorf("1000 addresses of one /64: %d guesses verified across users, want at most %d", n, DefaultSourceConfig().MaxFailures)
	}
	// Another /64 has its own budget.
	if _, ok, _ := th.Reserve("alice", "2001:db8:1:3::1"); !ok {
		t.Error("a neighbouring /64 was refused")
	}
}

// A guesser spread over many addresses is slowed for everyone, while the
// owner from an address that has not failed still gets through.
func TestOwnerFromNewSourceGetsThroughBackoff(t *testing.T) {
	clk := newFakeClock()
	users := Config{MaxFailures: 10, Window: 5 * time.Minute, MaxKeys: 1000}
	sources := Config{MaxFailures: 50, Window: 5 * time.Minute, MaxKeys: 1000}
	backoff := BackoffConfig{Threshold: 20, Window: 15 * time.Minute, MaxKeys: 1000}
	th := NewThrottleWithBackoff(users, sources, backoff, clk.Now)
	g := &guesser{th: th}
	bot := func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }

	// Two addresses spend their budgets: 20 failures, one halving.
	for i := 0; i < 40; i++ {
		g.guess("alice", bot(i%2))
	}
	if g.verified.Load() != 20 || th.userBudget("alice") != 5 {
		t.Fatalf("verified %d, budget %d; want 20, 5", g.verified.Load(), th.userBudget("alice"))
	}
	// Fresh addresses now get 5 each; after 60 failures in all, 1 each.
	for i := 2; i < 100; i++ {
		for j := 0; j < 10; j++ {
			g.guess("alice", bot(i))
		}
	}
	if b := th.userBudget("alice"); b != 1 {
		t.Fatalf("budget after %d failures = %d, want 1", g.verified.Load(), b)
	}
	// 98 addresses × 10 tries got: 4×5 + 2 (to 40 failures, budget 2)… then 1 each.
	if n := g.verified.Load(); n > 20+4*5+10*2+98 {
		t.Errorf("%d guesses verified from 100 addresses, want far fewer than 10 per address", n)
	}
	// A guessing address is blocked, with a retry within the window.
	if _, ok, retry := th.Reserve("alice", bot(5)); ok || retry <= 0 || retry > users.Window {
		t.Errorf("guessing address: Reserve = %v, retry %v; want refused within %v", ok, retry, users.Window)
	}
	// The owner from a new address: let in, and succeeds.
	r, ok, _ := th.Reserve("alice", "192.0.2.10")
	if !ok {
		t.Fatal("the owner from a new address was locked out")
	}
	r.Succeeded()
	// The owner's success does not free the guessers.
	if _, ok, _ := th.Reserve("alice", bot(5)); ok {
		t.Error("the owner's success unblocked a guessing address")
	}
	// Other users are not slowed by alice's backoff.
	if b := th.userBudget("bob"); b != users.MaxFailures {
		t.Errorf("bob's budget = %d, want %d", b, users.MaxFailures)
	}
	// The backoff ends by itself.
	clk.Step(backoff.Window + time.Second)
	if b := th.userBudget("alice"); b != users.MaxFailures {
		t.Errorf("alice's budget after the backoff window = %d, want %d", b, users.MaxFailures)
	}
	if _, ok, _ := th.Reserve("alice", bot(5)); !ok {
		t.Error("a guessing address still blocked after every window")
	}
}

func TestReservationResolution(t *testing.T) {
	clk := newFakeClock()
	users := Config{MaxFailures: 2, Window: time.Minute, MaxKeys: 100}
	sources := Config{MaxFailures: 3, Window: 10 * time.Minute, MaxKeys: 100}
	th := NewThrottleWithBackoff(users, sources, BackoffConfig{}, clk.Now)

	r, ok, _ := th.Reserve("u", "10.0.0.1")
	if !ok {
		t.Fatal("first Reserve refused")
	}
	// One in flight per (user, source): refused with InFlightRetry.
	if _, ok, retry := th.Reserve("u", "10.0.0.1"); ok || retry != InFlightRetry {
		t.Errorf("second Reserve in flight = %v, %v; want refused, %v", ok, retry, InFlightRetry)
	}
	// Another user from the source, or the user from elsewhere, is fine.
	r2, ok2, _ := th.Reserve("v", "10.0.0.1")
	r3, ok3, _ := th.Reserve("u", "10.0.0.2")
	if !ok2 || !ok3 {
		t.Fatal("in-flight attempt blocked another user or source")
	}
	r2.Cancel()
	r3.Cancel()
	// Cancel counts nothing; a second resolution does nothing.
	r.Cancel()
	r.Failed()
	if f, _ := th.Users.stored(UserKey("u", "10.0.0.1")); len(f) != 0 {
		t.Errorf("Cancel then Failed counted %d failures, want 0", len(f))
	}
	if th.Users.Len() != 0 || th.Sources.Len() != 0 {
		t.Errorf("cancelled reservations left %d user and %d source keys", th.Users.Len(), th.Sources.Len())
	}
	// Two failures block the (user, source) for the window.
	for i := 0; i < 2; i++ {
		r, _, _ := th.Reserve("u", "10.0.0.1")
		r.Failed()
		r.Succeeded() // no effect after Failed
	}
	if _, ok, retry := th.Reserve("u", "10.0.0.1"); ok || retry != time.Minute {
		t.Errorf("Reserve after 2 failures = %v, %v; want refused, 1m", ok, retry)
	}
	// The source has 2 of 3: one more from it, then the source is blocked.
	r, _, _ = th.Reserve("w", "10.0.0.1")
	if _, ok, retry := th.Reserve("x", "10.0.0.1"); ok || retry != InFlightRetry {
		t.Errorf("Reserve with the source budget held by a reservation = %v, %v; want refused, %v", ok, retry, InFlightRetry)
	}
	r.Succeeded() // frees the source's slot uncounted
	if _, ok, _ := th.Reserve("x", "10.0.0.1"); !ok {
		t.Error("a success did not give back the source's reserved slot")
	}
	var nilR *Reservation
	nilR.Succeeded()
	nilR.Failed()
	nilR.Cancel()
}

// A reservation never resolved (a caller's bug) is forgotten after
// ReservationTimeout, so the block it holds ends by itself.
func TestUnresolvedReservationExpires(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(DefaultUserConfig(), DefaultSourceConfig(), clk.Now)
	if _, ok, _ := th.Reserve("u", "10.0.0.1"); !ok {
		t.Fatal("Reserve refused")
	}
	if _, ok, _ := th.Reserve("u", "10.0.0.1"); ok {
		t.Fatal("second Reserve allowed while the first is in flight")
	}
	clk.Step(ReservationTimeout + time.Second)
	if _, ok, _ := th.Reserve("u", "10.0.0.1"); !ok {
		t.Error("a leaked reservation blocks forever")
	}
}

// Flooding a shard with new keys must not evict a key whose budget is held
// by reservations: that would hand the burst a fresh budget.
func TestEvictionKeepsReservedKeys(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{MaxFailures: 2, Window: time.Hour, MaxKeys: 32}, clk.Now) // 1 per shard
	k := sameShardKeys(t, l, "k", 50)
	if ok, _ := l.reserve(k[0], 2, 0); !ok {
		t.Fatal("reserve refused")
	}
	l.Fail(k[0])
	for _, other := range k[1:] {
		l.Fail(other)
	}
	if ok, _ := l.Allow(k[0]); ok {
		t.Error("a key with a reservation in flight was evicted by a flood of new keys")
	}
}

// Many goroutines reserving and resolving at random never exceed a budget
// and leave nothing behind once all is cancelled.
func TestReserveConcurrent(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(Config{MaxFailures: 5, Window: time.Minute, MaxKeys: 64},
		Config{MaxFailures: 20, Window: time.Minute, MaxKeys: 64}, clk.Now)
	var wg sync.WaitGroup
	var inFlight [4]atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				src := g % 4
				r, ok, _ := th.Reserve(fmt.Sprint("user-", i%9), fmt.Sprint("10.0.0.", src))
				if !ok {
					continue
				}
				if n := inFlight[src].Add(1); n > 20 {
					t.Errorf("source %d: %d in flight, budget 20", src, n)
				}
				inFlight[src].Add(-1)
				switch i % 3 {
				case 0:
					r.Failed()
				case 1:
					r.Succeeded()
				default:
					r.Cancel()
				}
				if i%100 == 0 {
					clk.Step(time.Second)
				}
			}
		}(g)
	}
	wg.Wait()
	for s := 0; s < 4; s++ {
		if f, _ := th.Sources.stored(fmt.Sprint("10.0.0.", s)); len(f) > 20 {
			t.Errorf("source %d holds %d failures, budget 20", s, len(f))
		}
	}
}

package password

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func bcryptAtCost(t testing.TB, pw string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatalf("bcrypt.GenerateFromPassword: %v", err)
	}
	return string(h)
}

// gatedVerify is a fake hash that blocks until the gate closes and records
// how many run at once.
type gatedVerify struct {
	gate          chan struct{}
	running, most atomic.Int64
	calls         atomic.Int64
	lastHash      atomic.Value
	entered       chan struct{}
}

func newGatedVerify() *gatedVerify {
	return &gatedVerify{gate: make(chan struct{}), entered: make(chan struct{}, 1000)}
}

func (g *gatedVerify) verify(h, p string) (bool, error) {
	g.calls.Add(1)
	g.lastHash.Store(h)
	n := g.running.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			break
		}
	}
	g.entered <- struct{}{}
	<-g.gate
	g.running.Add(-1)
	return p == "right", nil
}

func TestDefaultConcurrency(t *testing.T) {
	n := DefaultConcurrency()
	if n < 2 || n > MaxDefaultConcurrency {
		t.Fatalf("DefaultConcurrency() = %d, want 2..%d", n, MaxDefaultConcurrency)
	}
	if got := NewLimiter(0).Size(); got != n {
		t.Errorf("NewLimiter(0).Size() = %d, want %d", got, n)
	}
	if got := NewLimiter(7).Size(); got != 7 {
		t.Errorf("NewLimiter(7).Size() = %d, want 7", got)
	}
	var nilLimiter *Limiter
	if !nilLimiter.TryAcquire() || nilLimiter.Size() != 0 || nilLimiter.InUse() != 0 {
		t.Errorf("a nil limiter must not limit")
	}
	nilLimiter.Release()
}

// A burst larger than the limiter: exactly Size verifications hash, every
// other one fails at once with ErrBusy (none waits), and cache hits and the
// slots freed afterwards still work.
func TestCacheBusyWhenLimiterFull(t *testing.T) {
	const slots, burst = 3, 50
	g := newGatedVerify()
	l := NewLimiter(slots)
	c := NewCache(100, time.Minute, newFakeClock().Now, WithLimiter(l))
	c.verify = g.verify

	// A success to hit later, while the limiter is full.
	close(g.gate)
	mustVerify(t, c, "u-hit", "1", "h", "right", true)
	g.gate = make(chan struct{})
	<-g.entered

	var busy, done atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < burst; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Verify("u", "1", "h", "guess")
			if errors.Is(err, ErrBusy) {
				busy.Add(1)
			} else if err != nil {
				t.Errorf("Verify: %v", err)
			}
			done.Add(1)
		}()
	}
	for i := 0; i < slots; i++ {
		<-g.entered
	}
	// Everyone without a slot returns without waiting for the gate.
	for done.Load() < burst-slots {
		time.Sleep(time.Millisecond)
	}
	if got := busy.Load(); got != burst-slots {
		t.Fatalf("%d ErrBusy, want %d", got, burst-slots)
	}
	if l.InUse() != slots {
		t.Fatalf("InUse = %d, want %d", l.InUse(), slots)
	}
	mustVerify(t, c, "u-hit", "1", "h", "right", true) // a hit takes no slot
	if err := c.VerifyDummy(Bcrypt, "guess"); !errors.Is(err, ErrBusy) {
		t.Fatalf("VerifyDummy with the limiter full = %v, want ErrBusy", err)
	}
	close(g.gate)
	wg.Wait()
	if g.most.Load() != slots || l.InUse() != 0 {
		t.Fatalf("at most %d ran at once, %d slots still taken; want %d, 0", g.most.Load(), l.InUse(), slots)
	}
	if _, err := c.Verify("u", "1", "h", "guess"); err != nil {
		t.Fatalf("Verify after the burst: %v", err)
	}
}

// Real bcrypt under -race: many goroutines, never more than Size hashing.
func TestLimiterBoundsRealHashes(t *testing.T) {
	h := bcryptAtCost(t, "right", 6)
	l := NewLimiter(2)
	c := NewCache(0, time.Minute, time.Now, WithLimiter(l))
	var most atomic.Int64
	c.verify = func(hash, p string) (bool, error) {
		if n := int64(l.InUse()); n > most.Load() {
			most.Store(n)
		}
		return VerifyHash(hash, p)
	}
	var wg sync.WaitGroup
	var ok, busy atomic.Int64
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			match, err := c.Verify("u", "1", h, "right")
			switch {
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			case err != nil || !match:
				t.Errorf("Verify = %v, %v", match, err)
			default:
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if most.Load() > 2 || ok.Load() == 0 || ok.Load()+busy.Load() != 40 {
		t.Fatalf("most in use %d, ok %d, busy %d", most.Load(), ok.Load(), busy.Load())
	}
}

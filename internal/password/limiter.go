package password

import (
	"errors"
	"runtime"
)

// ErrBusy is returned, at once and without hashing, when the process already
// runs as many hash verifications as its Limiter allows. The caller answers
// 503 temporarily_unavailable with Retry-After: the attempt was not judged,
// so it is neither a success nor a failure.
var ErrBusy = errors.New("too many password hash verifications in progress")

// MaxDefaultConcurrency caps DefaultConcurrency: four argon2id verifications
// at MaxArgon2Memory hold 256 MiB, half the manager's default memory limit.
const MaxDefaultConcurrency = 4

// DefaultConcurrency is 2×GOMAXPROCS, at least 2 and at most
// MaxDefaultConcurrency. Hashing is CPU-bound: more verifications than cores
// only queue in the scheduler, each holding its memory while it waits.
func DefaultConcurrency() int {
	return min(max(2*runtime.GOMAXPROCS(0), 2), MaxDefaultConcurrency)
}

// Limiter bounds the hash verifications running at once across the process.
// Acquiring never blocks: a full limiter refuses, so a flood of sign-in
// attempts costs the server a bounded amount of CPU and memory and the
// excess is told to come back, rather than piling up goroutines each waiting
// to allocate up to 64 MiB. A nil *Limiter has no limit.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter returns a limiter of n slots; n <= 0 means DefaultConcurrency.
func NewLimiter(n int) *Limiter {
	if n <= 0 {
		n = DefaultConcurrency()
	}
	return &Limiter{slots: make(chan struct{}, n)}
}

// TryAcquire takes a slot if one is free. Each true must be paired with one
// Release.
func (l *Limiter) TryAcquire() bool {
	if l == nil {
		return true
	}
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release frees a slot taken by TryAcquire.
func (l *Limiter) Release() {
	if l != nil {
		<-l.slots
	}
}

// InUse is the number of slots taken (for metrics and tests).
func (l *Limiter) InUse() int {
	if l == nil {
		return 0
	}
	return len(l.slots)
}

// Size is the number of slots; 0 for a nil limiter, which has no limit.
func (l *Limiter) Size() int {
	if l == nil {
		return 0
	}
	return cap(l.slots)
}

// run calls fn in a slot, or returns ErrBusy without calling it.
func (l *Limiter) run(fn func() (bool, error)) (bool, error) {
	if !l.TryAcquire() {
		return false, ErrBusy
	}
	defer l.Release()
	return fn()
}

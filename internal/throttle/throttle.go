// Package throttle slows down password guessing. Attempts are counted per
// user and source, per source across users, and per user across sources, in
// sliding windows; a key that failed too often is refused until its oldest
// failures age out. A block therefore always ends by itself: the throttle can
// delay a user, never lock one out.
//
// # Reserve before verifying
//
// Throttle.Reserve takes the attempt out of every budget before the password
// is verified, atomically: a reservation counts like a failure until it is
// resolved (Reservation.Succeeded, Failed or Cancel). A burst of any size from
// one source therefore reaches verification at most as often as the budget
// allows, and at most one verification per (user, source) runs at a time. The
// older Check, then Failed or Succeeded, is check-then-act: concurrent
// attempts all pass Check before any Failed is counted.
//
// # Sources
//
// Reserve keys sources by SourceKey: an IPv4 address as itself, an IPv6
// address by its /64, the smallest prefix a site is normally given, so that
// one host cannot take a fresh budget for each of its 2^64 addresses.
//
// # Per-user backoff
//
// Each source has its own budget for a user (Users.MaxFailures), so a guesser
// cannot lock the owner out by failing from elsewhere. Guessing from many
// sources is slowed by a per-user backoff instead of a per-user block: every
// BackoffConfig.Threshold failures of one user within BackoffConfig.Window,
// from any sources, halve every source's budget for that user, down to 1. A
// source that has not failed for the user still has at least one attempt, so
// the owner signing in from a new address gets through while each guessing
// address is held to one guess per window; an address that already spent the
// smaller budget waits for its failures to age out. The owner's success does
// not reset the backoff, which would let the guessers reset it.
//
// # Per replica
//
// Counts live in the memory of one process: N replicas give N times each
// budget.
package throttle

import (
	"hash/maphash"
	"sync"
	"time"
)

// Config bounds failures for one kind of key.
type Config struct {
	// MaxFailures within Window block further attempts.
	MaxFailures int
	// Window is how long a failure counts.
	Window time.Duration
	// MaxKeys bounds memory; past it the stalest keys are dropped.
	MaxKeys int
}

// DefaultUserConfig: 10 failures per user in 5 minutes.
func DefaultUserConfig() Config {
	return Config{MaxFailures: 10, Window: 5 * time.Minute, MaxKeys: 100000}
}

// DefaultSourceConfig: 50 failures per source address in 5 minutes.
func DefaultSourceConfig() Config {
	return Config{MaxFailures: 50, Window: 5 * time.Minute, MaxKeys: 100000}
}

const shards = 32

// InFlightRetry is the Retry-After of an attempt refused only because others
// are still being verified: they end within a hash time.
const InFlightRetry = time.Second

// ReservationTimeout forgets a reservation never resolved (a bug in the
// caller), so that even then a block ends by itself.
const ReservationTimeout = time.Minute

// Limiter counts failures, and reserved attempts, per key.
type Limiter struct {
	cfg    Config
	now    func() time.Time
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu   sync.Mutex
	keys map[string]*entry
}

// entry is one key's state, each slice oldest first.
type entry struct {
	fails   []time.Time
	pending []time.Time
}

// New returns a limiter; now is the clock (time.Now in production).
func New(cfg Config, now func() time.Time) *Limiter {
	l := &Limiter{cfg: cfg, now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].keys = map[string]*entry{}
	}
	return l
}

func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shards]
}

func (l *Limiter) disabled() bool { return l == nil || l.cfg.MaxFailures <= 0 }

// live drops failures older than the window and reservations older than
// ReservationTimeout.
func (l *Limiter) live(e *entry, now time.Time) {
	e.fails = since(e.fails, now.Add(-l.cfg.Window))
	e.pending = since(e.pending, now.Add(-ReservationTimeout))
}

func since(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	return ts[i:]
}

// wait is 0 when one more attempt fits in budget, else how long to wait.
func (l *Limiter) wait(e *entry, budget int, now time.Time) time.Duration {
	if e == nil || len(e.fails)+len(e.pending) < budget {
		return 0
	}
	if len(e.fails) >= budget {
		// Allowed again when enough of the oldest failures have aged out.
		oldest := e.fails[len(e.fails)-budget]
		return max(oldest.Add(l.cfg.Window).Sub(now), time.Nanosecond)
	}
	return InFlightRetry
}

// Allow says whether an attempt for key may proceed and, if not, when it may.
// Refused attempts are not failures: they do not extend the block.
// Reservations in flight count against the budget.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	retry := l.retryAfter(key, l.budget())
	return retry == 0, retry
}

// budget is MaxFailures; 0 for a nil limiter.
func (l *Limiter) budget() int {
	if l == nil {
		return 0
	}
	return l.cfg.MaxFailures
}

// retryAfter is 0 when an attempt for key fits in budget, else how long to
// wait.
func (l *Limiter) retryAfter(key string, budget int) time.Duration {
	if l.disabled() {
		return 0
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[key]
	if e != nil {
		l.live(e, now)
	}
	return l.wait(e, budget, now)
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(key string) {
	if l.disabled() {
		return
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l.addFailure(l.get(s, key, now), now)
}

// addFailure keeps at most MaxFailures timestamps per key: memory stays
// bounded and the block still ends MaxFailures failures' window later.
func (l *Limiter) addFailure(e *entry, now time.Time) {
	if len(e.fails) >= l.cfg.MaxFailures {
		e.fails = e.fails[1:]
	}
	e.fails = append(e.fails, now)
}

// get returns key's live entry, creating it (and evicting another when the
// shard is full) if needed. s must be locked.
func (l *Limiter) get(s *shard, key string, now time.Time) *entry {
	if e, ok := s.keys[key]; ok {
		l.live(e, now)
		return e
	}
	if l.cfg.MaxKeys > 0 && len(s.keys) >= max(1, l.cfg.MaxKeys/shards) {
		l.evict(s, now)
	}
	e := &entry{}
	s.keys[key] = e
	return e
}

// evict makes room in a full shard: first keys with nothing live, then, if
// none, the key whose last failure is oldest. Keys with a reservation in
// flight are never evicted (that would reset their budget mid-burst); when
// every key has one the shard grows, bounded by the verifications in flight.
func (l *Limiter) evict(s *shard, now time.Time) {
	var stalest string
	var stalestAt time.Time
	found := false
	for k, e := range s.keys {
		l.live(e, now)
		if len(e.pending) > 0 {
			continue
		}
		if len(e.fails) == 0 {
			delete(s.keys, k)
			return
		}
		if last := e.fails[len(e.fails)-1]; !found || last.Before(stalestAt) {
			stalest, stalestAt, found = k, last, true
		}
	}
	if found {
		delete(s.keys, stalest)
	}
}

// Succeed clears key's failures.
func (l *Limiter) Succeed(key string) {
	if l == nil {
		return
	}
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.keys[key]; ok && len(e.pending) > 0 {
		e.fails = nil
		return
	}
	delete(s.keys, key)
}

// Len is the number of keys held (for tests and metrics).
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].keys)
		l.shards[i].mu.Unlock()
	}
	return n
}

// reserve takes one attempt for key if failures and reservations leave room
// in budget and fewer than maxInFlight (0: any number) are in flight.
func (l *Limiter) reserve(key string, budget, maxInFlight int) (bool, time.Duration) {
	if l.disabled() {
		return true, 0
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := l.get(s, key, now)
	if maxInFlight > 0 && len(e.pending) >= maxInFlight {
		return false, InFlightRetry
	}
	if retry := l.wait(e, budget, now); retry > 0 {
		if len(e.fails) == 0 && len(e.pending) == 0 {
			delete(s.keys, key)
		}
		return false, retry
	}
	e.pending = append(e.pending, now)
	return true, 0
}

// resolve ends one reservation of key: a failure is counted when failed, and
// key's failures are cleared when cleared.
func (l *Limiter) resolve(key string, failed, cleared bool) {
	if l.disabled() {
		return
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := l.get(s, key, now)
	if len(e.pending) > 0 {
		e.pending = e.pending[1:]
	}
	if cleared {
		e.fails = nil
	}
	if failed {
		l.addFailure(e, now)
	}
	if len(e.fails) == 0 && len(e.pending) == 0 {
		delete(s.keys, key)
	}
}

// failures is the number of key's live failures.
func (l *Limiter) failures(key string) int {
	if l.disabled() {
		return 0
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	if !ok {
		return 0
	}
	l.live(e, now)
	return len(e.fails)
}

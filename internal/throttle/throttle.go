// Package throttle slows down password guessing: failed sign-ins are counted
// per user and per source address in a sliding window, and a key that failed
// too often is refused until its oldest failures age out. A block therefore
// always ends by itself: the throttle can delay a user, never lock one out.
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

// Limiter counts failures per key.
type Limiter struct {
	cfg    Config
	now    func() time.Time
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu   sync.Mutex
	keys map[string][]time.Time
}

// New returns a limiter; now is the clock (time.Now in production).
func New(cfg Config, now func() time.Time) *Limiter {
	l := &Limiter{cfg: cfg, now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].keys = map[string][]time.Time{}
	}
	return l
}

func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shards]
}

// live drops failures older than the window.
func (l *Limiter) live(fails []time.Time, now time.Time) []time.Time {
	cut := now.Add(-l.cfg.Window)
	i := 0
	for i < len(fails) && !fails[i].After(cut) {
		i++
	}
	return fails[i:]
}

// Allow says whether an attempt for key may proceed and, if not, when it may.
// Refused attempts are not failures: they do not extend the block.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.cfg.MaxFailures <= 0 {
		return true, 0
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fails := l.live(s.keys[key], now)
	if len(fails) < l.cfg.MaxFailures {
		return true, 0
	}
	// Allowed again when enough of the oldest failures have aged out.
	oldest := fails[len(fails)-l.cfg.MaxFailures]
	return false, oldest.Add(l.cfg.Window).Sub(now)
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(key string) {
	if l == nil || l.cfg.MaxFailures <= 0 {
		return
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fails := l.live(s.keys[key], now)
	if len(fails) >= l.cfg.MaxFailures {
		// Keep at most MaxFailures timestamps per key: memory stays bounded
		// and the block still ends MaxFailures failures' window later.
		fails = fails[1:]
	}
	if _, exists := s.keys[key]; !exists && l.cfg.MaxKeys > 0 && len(s.keys) >= max(1, l.cfg.MaxKeys/shards) {
		l.evict(s, now)
	}
	s.keys[key] = append(fails, now)
}

// evict makes room in a full shard: first keys whose failures all expired,
// then, if none, the key whose last failure is oldest.
func (l *Limiter) evict(s *shard, now time.Time) {
	var stalest string
	var stalestAt time.Time
	found := false
	for k, f := range s.keys {
		if len(l.live(f, now)) == 0 {
			delete(s.keys, k)
			return
		}
		if last := f[len(f)-1]; !found || last.Before(stalestAt) {
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
	delete(s.keys, key)
	s.mu.Unlock()
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

// Throttle combines two limiters: failures of one user from one source
// address, and failures from one source address across users. The user's
// budget is per source, so someone guessing from one address can slow down
// only their own attempts at that user: the owner signing in from elsewhere is
// never locked out. The per-source limit bounds guessing across many users.
type Throttle struct {
	Users, Sources *Limiter
}

// UserKey is the key of the Users limiter: one user from one source.
func UserKey(user, source string) string { return user + "\x00" + source }

// NewThrottle returns a throttle with the two limits.
func NewThrottle(users, sources Config, now func() time.Time) *Throttle {
	return &Throttle{Users: New(users, now), Sources: New(sources, now)}
}

// Check says whether a sign-in for user from source may be attempted.
func (t *Throttle) Check(user, source string) (bool, time.Duration) {
	ok, retry := t.Users.Allow(UserKey(user, source))
	ok2, retry2 := t.Sources.Allow(source)
	return ok && ok2, max(retry, retry2)
}

// Failed records a failed sign-in.
func (t *Throttle) Failed(user, source string) {
	t.Users.Fail(UserKey(user, source))
	t.Sources.Fail(source)
}

// Succeeded clears the user's failures but not the source's: one valid login
// must not reset the budget of an address that is guessing other passwords.
func (t *Throttle) Succeeded(user, source string) { t.Users.Succeed(UserKey(user, source)) }

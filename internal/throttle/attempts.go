package throttle

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// BackoffConfig is the per-user backoff (see the package doc): every
// Threshold failures of one user within Window, from any sources, halve each
// source's budget for that user, down to 1.
type BackoffConfig struct {
	// Threshold failures of a user halve its per-source budget once more;
	// 0 disables the backoff.
	Threshold int
	// Window is how long a failure counts towards the backoff.
	Window time.Duration
	// MaxKeys bounds memory; past it the stalest users are dropped.
	MaxKeys int
}

// DefaultBackoffConfig: with DefaultUserConfig, 20 failures of a user in 15
// minutes leave each source 5 attempts at it, 40 leave 2, 60 leave 1.
func DefaultBackoffConfig() BackoffConfig {
	return BackoffConfig{Threshold: 20, Window: 15 * time.Minute, MaxKeys: 100000}
}

// Throttle combines three counts: failures of one user from one source
// (Users, keyed by UserKey), failures from one source across users
// (Sources), and failures of one user from all sources (UserWide, which only
// shrinks the first budget: see the package doc). The user's budget is per
// source, so someone guessing from one address can slow down only their own
// attempts at that user: the owner signing in from elsewhere is never locked
// out. The per-source limit bounds guessing across many users.
type Throttle struct {
	Users, Sources, UserWide *Limiter
	threshold                int
}

// UserKey is the key of the Users limiter: one user from one source key.
func UserKey(user, source string) string { return user + "\x00" + source }

// NewThrottle returns a throttle with the two limits and the default
// per-user backoff.
func NewThrottle(users, sources Config, now func() time.Time) *Throttle {
	return NewThrottleWithBackoff(users, sources, DefaultBackoffConfig(), now)
}

// NewThrottleWithBackoff returns a throttle with the two limits and the
// per-user backoff b.
func NewThrottleWithBackoff(users, sources Config, b BackoffConfig, now func() time.Time) *Throttle {
	// UserWide keeps enough failures to halve the budget down to 1.
	keep := b.Threshold * (bits.Len(uint(max(users.MaxFailures, 1))) + 1)
	wide := Config{MaxFailures: keep, Window: b.Window, MaxKeys: b.MaxKeys}
	return &Throttle{Users: New(users, now), Sources: New(sources, now), UserWide: New(wide, now), threshold: b.Threshold}
}

// userBudget is the attempts each source has at user under the backoff.
func (t *Throttle) userBudget(user string) int {
	budget := t.Users.budget()
	if t.threshold <= 0 || budget <= 0 {
		return budget
	}
	halvings := t.UserWide.failures(user) / t.threshold
	if halvings >= bits.UintSize {
		return 1
	}
	return max(budget>>halvings, 1)
}

// Check says whether a sign-in for user from source may be attempted. It is
// check-then-act (concurrent attempts all pass before any failure counts):
// prefer Reserve.
func (t *Throttle) Check(user, source string) (bool, time.Duration) {
	source = SourceKey(source)
	retry := t.Users.retryAfter(UserKey(user, source), t.userBudget(user))
	ok2, retry2 := t.Sources.Allow(source)
	return retry == 0 && ok2, max(retry, retry2)
}

// Failed records a failed sign-in.
func (t *Throttle) Failed(user, source string) {
	source = SourceKey(source)
	t.Users.Fail(UserKey(user, source))
	t.Sources.Fail(source)
	t.UserWide.Fail(user)
}

// Succeeded clears the user's failures from this source but not the
// source's: one valid login must not reset the budget of an address that is
// guessing other passwords.
func (t *Throttle) Succeeded(user, source string) {
	t.Users.Succeed(UserKey(user, SourceKey(source)))
}

// Reservation is one sign-in attempt taken out of the budgets by Reserve.
// Exactly one of Succeeded, Failed and Cancel takes effect; later calls do
// nothing, so `defer r.Cancel()` right after Reserve releases the attempt on
// every path that forgot to resolve it. Methods on a nil Reservation do
// nothing.
type Reservation struct {
	t                     *Throttle
	user, userKey, source string
	done                  atomic.Bool
}

// Reserve takes one attempt for user from source before the password is
// verified. It refuses, with how long to wait, when the (user, source) or
// source budget is spent counting attempts still in flight, when the
// per-user backoff has shrunk the (user, source) budget, or when another
// attempt at user from source is being verified. source is keyed by
// SourceKey.
func (t *Throttle) Reserve(user, source string) (*Reservation, bool, time.Duration) {
	source = SourceKey(source)
	uk := UserKey(user, source)
	if ok, retry := t.Users.reserve(uk, t.userBudget(user), 1); !ok {
		return nil, false, retry
	}
	if ok, retry := t.Sources.reserve(source, t.Sources.budget(), 0); !ok {
		t.Users.resolve(uk, false, false)
		return nil, false, retry
	}
	return &Reservation{t: t, user: user, userKey: uk, source: source}, true, 0
}

// Succeeded ends the attempt as a correct password: the user's failures from
// this source are cleared; the source's budget and the user's backoff are
// not (see Throttle.Succeeded).
func (r *Reservation) Succeeded() {
	if r != nil && r.done.CompareAndSwap(false, true) {
		r.t.Users.resolve(r.userKey, false, true)
		r.t.Sources.resolve(r.source, false, false)
	}
}

// Failed ends the attempt as a wrong password (or unknown user): it counts
// against (user, source), the source and the user's backoff.
func (r *Reservation) Failed() {
	if r != nil && r.done.CompareAndSwap(false, true) {
		r.t.Users.resolve(r.userKey, true, false)
		r.t.Sources.resolve(r.source, true, false)
		r.t.UserWide.Fail(r.user)
	}
}

// Cancel ends the attempt uncounted: no password was judged (the hash
// limiter was busy, the store failed).
func (r *Reservation) Cancel() {
	if r != nil && r.done.CompareAndSwap(false, true) {
		r.t.Users.resolve(r.userKey, false, false)
		r.t.Sources.resolve(r.source, false, false)
	}
}

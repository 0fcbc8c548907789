package throttle

import (
	"testing"
	"time"
)

// TestReservationSuccessKeepsSourceFailures: an address guessing passwords
// of many users cannot reset its budget by signing in once with an account
// of its own. After one user's success, the failures of the others still
// count and the source is blocked at its budget.
func TestReservationSuccessKeepsSourceFailures(t *testing.T) {
	clk := newFakeClock()
	users := Config{MaxFailures: 5, Window: time.Minute, MaxKeys: 100}
	sources := Config{MaxFailures: 3, Window: 10 * time.Minute, MaxKeys: 100}
	th := NewThrottleWithBackoff(users, sources, BackoffConfig{}, clk.Now)
	const src = "10.0.0.9"
	attempt := func(user string) *Reservation {
		t.Helper()
		r, ok, retry := th.Reserve(user, src)
		if !ok {
			t.Fatalf("Reserve(%s) refused (retry %v) before the source's budget was spent", user, retry)
		}
		return r
	}
	attempt("victim1").Failed()
	attempt("victim2").Failed()
	attempt("own-account").Succeeded()
	attempt("victim3").Failed()
	if _, ok, retry := th.Reserve("victim4", src); ok || retry <= 0 {
		t.Fatalf("Reserve after 3 failures from the source = %v, %v; want refused: a success of another user reset the source", ok, retry)
	}
}

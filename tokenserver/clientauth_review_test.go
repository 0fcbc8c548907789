package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// stubReviewer authenticates every token as user, counting calls; gate, when
// set, holds each call until it is closed.
type stubReviewer struct {
	user  string
	calls atomic.Int64
	gate  chan struct{}
	err   error
}

func (r *stubReviewer) Review(ctx context.Context, _ string, auds []string) (*store.ReviewedToken, error) {
	r.calls.Add(1)
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return &store.ReviewedToken{Username: r.user, Audiences: auds}, nil
}

func testReviewCache(r store.TokenReviewer, clk *clocktesting.FakeClock, concurrency int) *reviewCache {
	o := DefaultOptions()
	o.Issuer, o.Clock, o.ServiceAccountReviewConcurrency = "https://issuer.example", clk, concurrency
	return newReviewCache(o, r, newMetrics(prometheus.NewRegistry()), logr.Discard())
}

const saUser = "system:serviceaccount:ns:robot"

// TestReviewCacheBoundedByExpAndTTL: a positive review is reused until the
// earlier of the token's exp and the TTL, then asked again.
func TestReviewCacheBoundedByExpAndTTL(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name      string
		exp       time.Duration // after start
		reusedFor time.Duration // the bound
	}{
		{"exp before the TTL", time.Minute, time.Minute},
		{"TTL before exp", time.Hour, 5 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			r := &stubReviewer{user: saUser}
			rc := testReviewCache(r, clk, 4)
			exp := start.Add(tc.exp)
			for range 3 {
				if err := rc.check(context.Background(), "tok", saUser, exp); err != nil {
					t.Fatal(err)
				}
			}
			clk.SetTime(start.Add(tc.reusedFor - time.Second))
			_ = rc.check(context.Background(), "tok", saUser, exp)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("%d reviews within the bound, want 1", n)
			}
			clk.SetTime(start.Add(tc.reusedFor))
			_ = rc.check(context.Background(), "tok", saUser, exp.Add(time.Hour))
			if n := r.calls.Load(); n != 2 {
				t.Fatalf("%d reviews once the bound passed, want 2", n)
			}
		})
	}
}

// TestReviewCacheRefusals: a review for another username, a refusal and an
// API error never authenticate and are not cached.
func TestReviewCacheRefusals(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	exp := clk.Now().Add(time.Hour)
	other := &stubReviewer{user: "system:serviceaccount:ns:other"}
	if err := testReviewCache(other, clk, 1).check(context.Background(), "tok", saUser, exp); !errors.Is(err, errAssertionRefused) {
		t.Fatalf("another username: %v", err)
	}
	refused := &stubReviewer{err: store.ErrNotFound}
	rc := testReviewCache(refused, clk, 1)
	for range 2 {
		if err := rc.check(context.Background(), "tok", saUser, exp); !errors.Is(err, errAssertionRefused) {
			t.Fatalf("refused review: %v", err)
		}
	}
	if refused.calls.Load() != 2 {
		t.Fatalf("a refusal was cached")
	}
	var oe *oauth.Error
	down := &stubReviewer{err: store.ErrReviewUnavailable}
	if err := testReviewCache(down, clk, 1).check(context.Background(), "tok", saUser, exp); !errors.As(err, &oe) || oe.Status != http.StatusServiceUnavailable {
		t.Fatalf("API server down: %v, want 503", err)
	}
}

// TestReviewCacheJoinsAndBounds: concurrent checks of one uncached token
// share one review; beyond the concurrency bound another token waits, then
// gets 503.
func TestReviewCacheJoinsAndBounds(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	exp := clk.Now().Add(time.Hour)
	r := &stubReviewer{user: saUser, gate: make(chan struct{})}
	rc := testReviewCache(r, clk, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- rc.check(context.Background(), "tok", saUser, exp) })
	}
	for r.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The one slot is taken: a second token waits, then is refused.
	var oe *oauth.Error
	if err := rc.check(context.Background(), "tok2", saUser, exp); !errors.As(err, &oe) || oe.Status != http.StatusServiceUnavailable {
		t.Fatalf("beyond the concurrency bound: %v, want 503", err)
	}
	close(r.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("%d reviews for 20 concurrent checks of one token, want 1", n)
	}
}

package tokenserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/lru"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// reviewWait is how long a request waits for a free TokenReview slot.
const reviewWait = time.Second

// reviewCache reuses positive TokenReview answers so that one pod's token
// costs one review per ServiceAccountReviewTTL (at most its own lifetime), not
// one per request. Entries are keyed by the SHA-256 of the token, so the
// cache holds no token. Negative answers are not kept: a refused token costs
// a review each time, bounded by the concurrency limit.
type reviewCache struct {
	reviewer  store.TokenReviewer
	audiences []string
	ttl       time.Duration
	now       func() time.Time
	entries   *lru.Cache
	slots     chan struct{}
	metrics   *metrics
	log       logr.Logger

	// inflight joins concurrent reviews of one token into one call.
	mu       sync.Mutex
	inflight map[[32]byte]*reviewCall
}

type reviewEntry struct {
	username string
	expires  time.Time
}

type reviewCall struct {
	done chan struct{}
	err  error
}

func newReviewCache(o Options, r store.TokenReviewer, m *metrics, log logr.Logger) *reviewCache {
	auds := o.ServiceAccountAudiences
	if len(auds) == 0 {
		auds = []string{o.Issuer}
	}
	return &reviewCache{
		reviewer: r, audiences: auds, ttl: o.ServiceAccountReviewTTL, now: o.Clock.Now,
		entries: lru.New(o.ServiceAccountReviewCacheSize), slots: make(chan struct{}, o.ServiceAccountReviewConcurrency),
		metrics: m, log: log, inflight: map[[32]byte]*reviewCall{},
	}
}

// accepts reports whether every audience of a token is one the server takes
// (a token also valid at the API server, or elsewhere, is refused).
func (rc *reviewCache) accepts(aud []string) bool {
	if len(aud) == 0 {
		return false
	}
	for _, a := range aud {
		if !slices.Contains(rc.audiences, a) {
			return false
		}
	}
	return true
}

// check succeeds when the API server vouches (now, or within the cache
// bound) that token is an authentic token of username. exp is the token's
// own expiry, which bounds the cached answer.
func (rc *reviewCache) check(ctx context.Context, token, username string, exp time.Time) error {
	key := sha256.Sum256([]byte(token))
	if v, ok := rc.entries.Get(key); ok {
		e := v.(reviewEntry)
		if e.username == username && rc.now().Before(e.expires) {
			rc.metrics.reviewed("cached")
			return nil
		}
		rc.entries.Remove(key)
	}
	rc.mu.Lock()
	if call, ok := rc.inflight[key]; ok {
		rc.mu.Unlock()
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	call := &reviewCall{done: make(chan struct{})}
	rc.inflight[key] = call
	rc.mu.Unlock()
	call.err = rc.review(ctx, key, token, username, exp)
	rc.mu.Lock()
	delete(rc.inflight, key)
	rc.mu.Unlock()
	close(call.done)
	return call.err
}

// review asks the API server, within the concurrency bound, and keeps a
// positive answer until the earlier of exp and the TTL.
func (rc *reviewCache) review(ctx context.Context, key [32]byte, token, username string, exp time.Time) error {
	timer := time.NewTimer(reviewWait)
	defer timer.Stop()
	select {
	case rc.slots <- struct{}{}:
	case <-timer.C:
		return oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "too many ServiceAccount token reviews in flight")
	case <-ctx.Done():
		return ctx.Err()
	}
	rt, err := rc.reviewer.Review(ctx, token, rc.audiences)
	<-rc.slots
	switch {
	case errors.Is(err, store.ErrNotFound):
		rc.metrics.reviewed("refused")
		return errAssertionRefused
	case err != nil:
		// The error names the API call, never the token.
		rc.log.Error(err, "ServiceAccount token review failed")
		rc.metrics.reviewed("error")
		return oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "the ServiceAccount token could not be reviewed")
	case rt.Username != username || len(rt.Audiences) == 0 || !rc.accepts(rt.Audiences):
		rc.metrics.reviewed("refused")
		return errAssertionRefused
	}
	rc.metrics.reviewed("authenticated")
	expires := exp
	if bound := rc.now().Add(rc.ttl); bound.Before(expires) {
		expires = bound
	}
	if rc.now().Before(expires) {
		rc.entries.Add(key, reviewEntry{username: username, expires: expires})
	}
	return nil
}

package tokenserver

import (
	"net/http"
	"sync"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// jtiRecord remembers the jti of every private_key_jwt assertion accepted by
// this replica until the assertion expires (RFC 7523 §3 item 7), so a second
// use is refused. It is per replica: an assertion replayed to another replica
// within its lifetime (at most five minutes) is accepted there once more. A
// record across replicas would cost an API write per client authentication;
// the short lifetime and TLS (an assertion is as sensitive as a secret in
// transit) are what bound a replay instead.
type jtiRecord struct {
	mu   sync.Mutex
	seen map[string]time.Time
	max  int
}

// maxRecordedJTIs bounds the record: at most five minutes of assertions at
// over 300 per second on one replica.
const maxRecordedJTIs = 100000

func newJTIRecord(max int) *jtiRecord {
	return &jtiRecord{seen: map[string]time.Time{}, max: max}
}

// use records key until expires; a key already recorded and unexpired is a
// replay (errAssertionRefused). When the record is full of live entries a new
// one is refused with 503 rather than forgetting one that could be replayed.
func (j *jtiRecord) use(key string, expires, now time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if until, ok := j.seen[key]; ok && now.Before(until) {
		return errAssertionRefused
	}
	if len(j.seen) >= j.max {
		for k, until := range j.seen {
			if !now.Before(until) {
				delete(j.seen, k)
			}
		}
		if len(j.seen) >= j.max {
			return oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "too many client assertions in flight")
		}
	}
	j.seen[key] = expires
	return nil
}

package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"k8s.io/utils/clock"
)

// Bounds of how long a fetched JWKS is trusted without asking again.
const (
	// defaultKeysMaxAge applies when the JWKS response has no max-age.
	defaultKeysMaxAge = 5 * time.Minute
	// maxKeysMaxAge caps a max-age, so a removed key cannot linger a week.
	maxKeysMaxAge = 24 * time.Hour
	// maxJWKSBytes bounds a JWKS response.
	maxJWKSBytes = 1 << 20
)

// keySet is the issuer's JWKS with HTTP caching (RFC 9111): it is used for
// its max-age, then revalidated with If-None-Match. An unknown kid triggers a
// refetch (a rotation the cache has not seen yet), but at most one per
// minRefetch, so a stream of forged kids cannot turn the verifier into a
// load generator against the issuer.
type keySet struct {
	url        string
	client     *http.Client
	clock      clock.PassiveClock
	minRefetch time.Duration

	// fetchMu makes fetches one at a time; callers that waited for it find
	// the generation changed and use the result.
	fetchMu sync.Mutex

	mu      sync.RWMutex
	keys    map[string]jose.JSONWebKey
	etag    string
	expires time.Time // end of freshness
	tried   time.Time // last fetch attempt, successful or not
	gen     uint64    // incremented by every fetch attempt
}

// key returns the public key of kid, fetching the JWKS when the cache is
// stale or does not know kid.
func (k *keySet) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	now := k.clock.Now()
	k.mu.RLock()
	key, ok := k.keys[kid]
	fresh, gen := now.Before(k.expires), k.gen
	k.mu.RUnlock()
	if ok && fresh {
		return key, nil
	}
	err := k.refresh(ctx, gen, !ok)
	k.mu.RLock()
	key, found := k.keys[kid]
	k.mu.RUnlock()
	switch {
	case found:
		// A failed revalidation keeps serving the keys it has.
		return key, nil
	case len(k.snapshot()) == 0:
		return jose.JSONWebKey{}, unavailable("the issuer's keys could not be fetched", err)
	default:
		return jose.JSONWebKey{}, invalid("the token is signed with a key the issuer does not publish", nil)
	}
}

func (k *keySet) snapshot() map[string]jose.JSONWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys
}

// refresh fetches the JWKS unless another caller fetched since generation
// seen, or the last attempt is more recent than minRefetch.
func (k *keySet) refresh(ctx context.Context, seen uint64, unknownKid bool) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	now := k.clock.Now()
	k.mu.RLock()
	changed, etag := k.gen != seen, k.etag
	recent := !k.tried.IsZero() && now.Sub(k.tried) < k.minRefetch
	fresh := now.Before(k.expires)
	k.mu.RUnlock()
	if changed || recent || (fresh && !unknownKid) {
		return nil
	}
	keys, newETag, maxAge, err := k.fetch(ctx, etag)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gen++
	k.tried = now
	if err != nil {
		return err
	}
	if keys != nil {
		k.keys = keys
	}
	k.etag, k.expires = newETag, now.Add(maxAge)
	return nil
}

// fetch GETs the JWKS, conditionally when an ETag is known. keys is nil
// for 304 Not Modified.
func (k *keySet) fetch(ctx context.Context, etag string) (keys map[string]jose.JSONWebKey, newETag string, maxAge time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, "", 0, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, "", 0, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	maxAge = cacheMaxAge(resp.Header.Get("Cache-Control"), k.minRefetch)
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, maxAge, nil
	case http.StatusOK:
	default:
		return nil, "", 0, fmt.Errorf("fetch jwks: %s answered %d", k.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, "", 0, fmt.Errorf("decode jwks: %w", err)
	}
	return indexKeys(set), resp.Header.Get("ETag"), maxAge, nil
}

// indexKeys keeps the public signing keys that have a kid; private or
// symmetric keys in a JWKS are a misconfiguration and are ignored.
func indexKeys(set jose.JSONWebKeySet) map[string]jose.JSONWebKey {
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, key := range set.Keys {
		if key.KeyID == "" || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
			continue
		}
		if !asymmetric[jose.SignatureAlgorithm(key.Algorithm)] && key.Algorithm != "" {
			continue
		}
		keys[key.KeyID] = key
	}
	return keys
}

// cacheMaxAge reads max-age from Cache-Control (RFC 9111 §5.2.2.1), between
// floor and maxKeysMaxAge; no-store and no-cache mean floor.
func cacheMaxAge(header string, floor time.Duration) time.Duration {
	age := defaultKeysMaxAge
	for _, d := range strings.Split(header, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return floor
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(value, `"`)); err == nil && n >= 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(age, floor), maxKeysMaxAge)
}

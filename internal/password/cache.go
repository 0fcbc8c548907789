package password

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// Cache remembers recent successful hash verifications so that a user who
// signs in repeatedly does not pay bcrypt or argon2id every time. Its keys are
// HMACs under a random per-process key of (user, version, hash, password): the
// cache never holds a password or a digest of one that could be attacked
// offline, and a changed user (new resourceVersion or hash) misses by itself.
// Hits cost no hashing and take no Limiter slot; misses hash in a slot.
type Cache struct {
	key     []byte
	size    int
	ttl     time.Duration
	now     func() time.Time
	verify  func(hash, presented string) (bool, error)
	limiter *Limiter

	mu      sync.Mutex
	entries map[[32]byte]*list.Element
	lru     *list.List
}

type cacheEntry struct {
	id      [32]byte
	expires time.Time
}

// CacheOption configures a Cache.
type CacheOption func(*Cache)

// WithLimiter makes every hash verification of the cache (misses and
// VerifyDummy) run in a slot of l, failing with ErrBusy when l is full. One
// limiter is meant to be shared by everything that verifies hashes in the
// process. Without this option verifications are not limited.
func WithLimiter(l *Limiter) CacheOption {
	return func(c *Cache) { c.limiter = l }
}

// NewCache returns a cache of at most size successes, each kept for ttl.
func NewCache(size int, ttl time.Duration, now func() time.Time, opts ...CacheOption) *Cache {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("password cache: no randomness: " + err.Error())
	}
	c := &Cache{key: k, size: size, ttl: ttl, now: now, verify: VerifyHash,
		entries: map[[32]byte]*list.Element{}, lru: list.New()}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *Cache) id(userUID, version, hash, presented string) [32]byte {
	m := hmac.New(sha256.New, c.key)
	for _, s := range []string{userUID, version, hash, presented} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// Verify checks presented against hash, answering from the cache when the
// same user at the same version verified the same password recently. A miss
// fails with ErrBusy, without hashing, when the limiter is full.
func (c *Cache) Verify(userUID, version, hash, presented string) (bool, error) {
	id := c.id(userUID, version, hash, presented)
	now := c.now()
	c.mu.Lock()
	if el, ok := c.entries[id]; ok {
		if now.Before(el.Value.(*cacheEntry).expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return true, nil
		}
		c.lru.Remove(el)
		delete(c.entries, id)
	}
	c.mu.Unlock()
	ok, err := c.limiter.run(func() (bool, error) { return c.verify(hash, presented) })
	if err != nil || !ok {
		return ok, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.entries[id]; !exists && c.size > 0 {
		c.entries[id] = c.lru.PushFront(&cacheEntry{id: id, expires: now.Add(c.ttl)})
		for c.lru.Len() > c.size {
			last := c.lru.Back()
			c.lru.Remove(last)
			delete(c.entries, last.Value.(*cacheEntry).id)
		}
	}
	return true, nil
}

package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Records is an in-memory store.Records: each record is kept as its JSON
// with a version that every write changes.
type Records[T any] struct {
	mu      sync.Mutex
	version uint64
	items   map[recordKey]stored
	counts  counters
}

type recordKey struct{ namespace, id string }

type stored struct {
	raw     []byte
	version uint64
	// client and user are the UIDs Create was given, for Count.
	client, user types.UID
}

// Counts are the operations a Records served, for tests that check a path
// costs what it should.
type Counts struct {
	// Gets counts Get calls; Updates counts Update calls and Attempts the
	// updater calls they made; Writes counts records created or written;
	// Deletes counts records removed (by Delete, Update or Collect).
	Gets, Updates, Attempts, Writes, Deletes int64
}

type counters struct {
	gets, updates, attempts, writes, deletes atomic.Int64
}

// NewRecords returns an empty Records.
func NewRecords[T any]() *Records[T] {
	return &Records[T]{items: map[recordKey]stored{}}
}

// Counts returns the operations served so far.
func (r *Records[T]) Counts() Counts {
	c := &r.counts
	return Counts{Gets: c.gets.Load(), Updates: c.updates.Load(), Attempts: c.attempts.Load(), Writes: c.writes.Load(), Deletes: c.deletes.Load()}
}

// Len returns the number of records kept.
func (r *Records[T]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.items)
}

// PutRaw stores raw as the record namespace/id whatever it holds, as a
// record written by hand or by another version would be.
func (r *Records[T]) PutRaw(namespace, id string, raw []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.version++
	r.items[recordKey{namespace, id}] = stored{raw: append([]byte(nil), raw...), version: r.version}
}

// Create stores a new record; of owner only the UIDs are kept, for Count
// (nothing here deletes a user's records with the user).
func (r *Records[T]) Create(_ context.Context, namespace, id string, rec *T, owner store.Owner) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := recordKey{namespace, id}
	if _, ok := r.items[k]; ok {
		return store.ErrExists
	}
	r.version++
	r.items[k] = stored{raw: raw, version: r.version, client: owner.ClientUID, user: owner.UserUID}
	r.counts.writes.Add(1)
	return nil
}

// Count counts the records of namespace issued to owner's client and user
// for which live (if set) returns true.
func (r *Records[T]) Count(_ context.Context, namespace string, owner store.Owner, live func(*T) bool) (int, error) {
	r.mu.Lock()
	var raws [][]byte
	for k, s := range r.items {
		if k.namespace == namespace && s.client == owner.ClientUID && s.user == owner.UserUID {
			raws = append(raws, s.raw)
		}
	}
	r.mu.Unlock()
	n := 0
	for _, raw := range raws {
		if rec, err := decode[T](raw); err == nil && (live == nil || live(rec)) {
			n++
		}
	}
	return n, nil
}

// Get returns a copy of the record.
func (r *Records[T]) Get(_ context.Context, namespace, id string) (*T, error) {
	r.counts.gets.Add(1)
	s, ok := r.load(recordKey{namespace, id})
	if !ok {
		return nil, store.ErrNotFound
	}
	return decode[T](s.raw)
}

func (r *Records[T]) load(k recordKey) (stored, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.items[k]
	return s, ok
}

func decode[T any](raw []byte) (*T, error) {
	var rec T
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, store.ErrNotFound
	}
	return &rec, nil
}

// Delete removes the record; a record already gone is fine.
func (r *Records[T]) Delete(_ context.Context, namespace, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := recordKey{namespace, id}
	if _, ok := r.items[k]; ok {
		delete(r.items, k)
		r.counts.deletes.Add(1)
	}
	return nil
}

// swap stores raw under k if k is still at version; gone reports that k no
// longer exists.
func (r *Records[T]) swap(k recordKey, version uint64, raw []byte) (ok, gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, exists := r.items[k]
	if !exists {
		return false, true
	}
	if s.version != version {
		return false, false
	}
	if raw == nil {
		delete(r.items, k)
		r.counts.deletes.Add(1)
		return true, false
	}
	r.version++
	r.items[k] = stored{raw: raw, version: r.version, client: s.client, user: s.user}
	r.counts.writes.Add(1)
	return true, false
}

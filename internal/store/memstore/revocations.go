package memstore

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Revocations is an in-memory store.Revocations.
type Revocations struct {
	mu      sync.Mutex
	expires map[string]time.Time // by jti
	clients map[string]types.UID // by jti
}

// NewRevocations returns an empty Revocations.
func NewRevocations() *Revocations {
	return &Revocations{expires: map[string]time.Time{}, clients: map[string]types.UID{}}
}

// Revoke records jti until expires, kept to the second as kubestore keeps it
// (RFC 3339). Revoking twice keeps the first record.
func (r *Revocations) Revoke(_ context.Context, jti string, expires time.Time, client types.UID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.expires[jti]; !ok {
		r.expires[jti] = expires.UTC().Truncate(time.Second)
		r.clients[jti] = client
	}
	return nil
}

// Count counts the records of client's tokens, expired or not.
func (r *Revocations) Count(_ context.Context, client types.UID) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.clients {
		if c == client {
			n++
		}
	}
	return n, nil
}

// IsRevoked reports whether jti is recorded, expired or not: a record lasts
// until it is collected, as in the cluster.
func (r *Revocations) IsRevoked(_ context.Context, jti string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.expires[jti]
	return ok, nil
}

// Collect removes the records whose token expired at or before the given
// time.
func (r *Revocations) Collect(_ context.Context, before time.Time) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for jti, exp := range r.expires {
		if !exp.After(before) {
			delete(r.expires, jti)
			delete(r.clients, jti)
			n++
		}
	}
	return n, nil
}

package memstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Update applies fn as one compare-and-swap. fn runs without the lock, on a
// copy, so concurrent updates race as they do against the API server; every
// read here is fresh, so fn's answer stands on the first attempt unless the
// write loses the race.
func (r *Records[T]) Update(_ context.Context, namespace, id string, fn store.Updater[T]) (*T, error) {
	r.counts.updates.Add(1)
	k := recordKey{namespace, id}
	for range maxAttempts {
		s, ok := r.load(k)
		if !ok {
			return nil, store.ErrNotFound
		}
		rec, err := decode[T](s.raw)
		if err != nil {
			return nil, err
		}
		r.counts.attempts.Add(1)
		op, ferr := fn(rec)
		out, done, err := r.apply(k, s, rec, op, ferr)
		if done {
			return out, err
		}
	}
	return nil, store.ErrConflict
}

// apply carries out what fn decided on s; done is false when the
// compare-and-swap was lost.
func (r *Records[T]) apply(k recordKey, s stored, rec *T, op store.Op, ferr error) (out *T, done bool, err error) {
	switch op {
	case store.Keep:
		if ferr != nil {
			return nil, true, ferr
		}
		out, err := decode[T](s.raw)
		return out, true, err
	case store.Write:
		if ferr != nil {
			return nil, true, ferr
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, true, fmt.Errorf("encode record: %w", err)
		}
		ok, gone := r.swap(k, s.version, raw)
		switch {
		case gone:
			return nil, true, store.ErrNotFound
		case !ok:
			return nil, false, nil
		}
		out, err := decode[T](raw)
		return out, true, err
	case store.Delete:
		if ok, gone := r.swap(k, s.version, nil); !ok && !gone {
			return nil, false, nil
		}
		return nil, true, ferr
	}
	return nil, true, fmt.Errorf("update record: unknown op %d", op)
}

// Collect removes the records drop names a reason for, each only if it is
// unchanged since it was listed.
func (r *Records[T]) Collect(_ context.Context, drop func(namespace string, rec *T) string) (map[string]int, error) {
	r.mu.Lock()
	listed := make(map[recordKey]stored, len(r.items))
	for k, s := range r.items {
		listed[k] = s
	}
	r.mu.Unlock()
	removed := map[string]int{}
	for k, s := range listed {
		reason := store.ReasonUnreadable
		if rec, err := decode[T](s.raw); err == nil {
			reason = drop(k.namespace, rec)
		}
		if reason == "" {
			continue
		}
		if ok, _ := r.swap(k, s.version, nil); ok {
			removed[reason]++
		}
	}
	return removed, nil
}

package tokenserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Refresh-family ids and authorization codes carry a stamp: the second they
// were issued (4 bytes, Unix time) and 8 bytes of an HMAC-SHA-256 over the
// kind, that time and the id's random part, keyed by a key derived from the
// active signing key (derivedKeys). The stamp says one thing: this server
// issued the id moments ago. Only then may a lookup the informer cache
// cannot answer ask the API server, because another replica may have
// written the record a moment before the cache saw it. Every other id is
// looked up store.CachedOnly, so an invented refresh token, code or
// revocation request costs no API read.
//
// A stamp refuses nothing by itself: a family outlives many key rotations
// (its stamp then no longer checks, and its record is in every cache long
// since), and ids of earlier releases have no stamp at all.
const (
	stampLen     = 12
	stampKeyInfo = "tokenwarden id stamp v1"
	// liveLookupWindow is how long after issue a record missing from the
	// cache is looked for in the API server: far beyond any cache lag of a
	// healthy cluster, short enough that a replayed id soon costs nothing.
	liveLookupWindow = 10 * time.Minute
)

const (
	stampFamily = "family"
	stampCode   = "code"
)

// stamp returns the stamp of an id of kind with random part body, issued now.
func (s *Server) stamp(kind string, body []byte, now time.Time) ([]byte, error) {
	k, err := s.stampKeys.get(s)
	if err != nil {
		return nil, err
	}
	st := make([]byte, stampLen)
	binary.BigEndian.PutUint32(st, uint32(now.Unix()))
	copy(st[4:], stampMAC(k.key, kind, body, st[:4]))
	return st, nil
}

func stampMAC(key []byte, kind string, body, issued []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write(issued)
	m.Write(body)
	return m.Sum(nil)[:stampLen-4]
}

// lookupContext returns ctx for looking up the record of an id of kind with
// random part body and stamp st (nil: none): unchanged when the stamp is
// this server's and younger than liveLookupWindow, else store.CachedOnly.
func (s *Server) lookupContext(ctx context.Context, kind string, body, st []byte) context.Context {
	if s.freshStamp(kind, body, st) {
		return ctx
	}
	return store.CachedOnly(ctx)
}

func (s *Server) freshStamp(kind string, body, st []byte) bool {
	if len(st) != stampLen {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint32(st)), 0)
	if age := s.opts.Clock.Now().Sub(issued); age < -time.Minute || age >= liveLookupWindow {
		return false
	}
	k, err := s.stampKeys.get(s)
	if err != nil {
		return false
	}
	for _, key := range [][]byte{k.key, k.prev} {
		if key != nil && hmac.Equal(st[4:], stampMAC(key, kind, body, st[:4])) {
			return true
		}
	}
	return false
}

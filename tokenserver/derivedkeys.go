package tokenserver

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// derivedKeys derives one MAC key (HKDF-SHA-256, named by info) from the
// active id_token signing key, which every replica holds already; the
// derivation is one-way, so a MAC key reveals nothing of the signing key. It
// keeps the key of the current signing key and the one derived before it,
// so a MAC made just before a rotation still checks in this process, and a
// request pays no key encoding and derivation.
type derivedKeys struct {
	info string
	cur  atomic.Pointer[derivedKey]
}

type derivedKey struct {
	kid  string
	key  []byte
	prev []byte // of the signing key before kid, when this process saw it
}

var errNoSessionKey = errors.New("no signing key to derive the session key from")

// get returns the key derived from the active signing key.
func (d *derivedKeys) get(s *Server) (*derivedKey, error) {
	set := s.keys.Current()
	if set == nil {
		return nil, errNoSessionKey
	}
	sg, ok := set.Signing(s.opts.IDTokenAlg)
	if !ok {
		if sg, ok = set.Signing(s.opts.AccessTokenAlg); !ok {
			return nil, errNoSessionKey
		}
	}
	old := d.cur.Load()
	if old != nil && old.kid == sg.KID {
		return old, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(sg.Key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key for %s: %w", d.info, err)
	}
	k, err := hkdf.Key(sha256.New, der, []byte(sg.KID), d.info, 32)
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", d.info, err)
	}
	next := &derivedKey{kid: sg.KID, key: k}
	if old != nil {
		next.prev = old.key
	}
	d.cur.Store(next)
	return next, nil
}

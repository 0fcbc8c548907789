// Package servertest runs the token server for tests without an API server:
// over the in-memory stores (internal/store/memstore) with a static signing
// key set, listening on 127.0.0.1. The protocol tests of the token server and
// of its browser flows use it; behaviour that needs the cluster (cache lag,
// several replicas writing through the API server, the controllers) is tested
// on envtest in test/integration.
package servertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/store/memstore"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// Keys is a KeySource tests can swap (a rotation).
type Keys struct {
	current atomic.Pointer[keys.Set]
	mu      sync.Mutex
	stored  []keys.Key
}

// Current implements tokenserver.KeySource.
func (k *Keys) Current() *keys.Set { return k.current.Load() }

// Stored returns the keys the set was built from (private parts included).
func (k *Keys) Stored() []keys.Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]keys.Key(nil), k.stored...)
}

// Set replaces the key set.
func (k *Keys) Set(ks []keys.Key) error {
	set, err := keys.NewSet(ks)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.stored = append([]keys.Key(nil), ks...)
	k.mu.Unlock()
	k.current.Store(set)
	return nil
}

// NewKeys returns, for each of ES256, RS256 and EdDSA, an active key and a
// published next one, as the operator's key manager leaves them on its first
// start.
func NewKeys() (*Keys, error) {
	var ks []keys.Key
	for _, alg := range []keys.Algorithm{keys.ES256, keys.RS256, keys.EdDSA} {
		for _, st := range []keys.State{keys.StateActive, keys.StateNext} {
			k, err := keys.GenerateKey(alg, time.Now())
			if err != nil {
				return nil, err
			}
			k.State = st
			ks = append(ks, k)
		}
	}
	k := &Keys{}
	return k, k.Set(ks)
}

// Harness is one token server (and any replicas started beside it) over one
// set of in-memory stores and keys.
type Harness struct {
	// Issuer is the base URL of the first server.
	Issuer string
	Mem    *memstore.Store
	Keys   *Keys
	// Secrets are the Secrets tests created, by namespace/name (a user's
	// password source).
	secrets sync.Map
	nsSeq   atomic.Int64
}

// Options returns the server's defaults with the log discarded; mod changes
// them.
func Options(mod func(*tokenserver.Options)) tokenserver.Options {
	o := tokenserver.DefaultOptions()
	o.Log = logr.Discard()
	if mod != nil {
		mod(&o)
	}
	return o
}

// New starts a server with the options mod makes from the defaults; it stops
// when ctx ends. A test binary usually keeps one for all its tests.
func New(ctx context.Context, mod func(*tokenserver.Options)) (*Harness, error) {
	ks, err := NewKeys()
	if err != nil {
		return nil, err
	}
	h := &Harness{Mem: memstore.New(), Keys: ks}
	h.Issuer, err = h.serve(ctx, mod, true)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// StartReplica starts another server over the same stores and keys (another
// replica, or one with other options such as a fake clock) and returns its
// base URL; it stops with the test. Its issuer is the harness's unless mod
// sets another.
func (h *Harness) StartReplica(t testing.TB, mod func(*tokenserver.Options)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	base, err := h.serve(ctx, func(o *tokenserver.Options) {
		o.Issuer = h.Issuer
		if mod != nil {
			mod(o)
		}
	}, false)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return base
}

// serve starts a server on a loopback port and waits until it answers.
func (h *Harness) serve(ctx context.Context, mod func(*tokenserver.Options), own bool) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	base := "http://" + ln.Addr().String()
	o := Options(func(o *tokenserver.Options) {
		o.Issuer = base
		if mod != nil {
			mod(o)
		}
		o.Listener = ln
	})
	srv, err := tokenserver.New(o, h.Mem.Stores(), h.Keys)
	if err != nil {
		ln.Close()
		return "", err
	}
	go func() { _ = srv.Start(ctx) }()
	for range 100 {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("token server on %s did not answer", base)
}

// Namespace returns a fresh namespace name.
func (h *Harness) Namespace() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("tw-test-%d-%s", h.nsSeq.Add(1), hex.EncodeToString(b[:]))
}

// StartReplicaWith is StartReplica with the fields of o that a test set;
// those left zero keep the server's defaults (a test names only what it
// changes).
func (h *Harness) StartReplicaWith(t testing.TB, o tokenserver.Options) string {
	t.Helper()
	return h.StartReplica(t, func(d *tokenserver.Options) { *d = FillDefaults(o, *d) })
}

// FillDefaults fills the fields a test left zero from d (a test names only
// what it changes).
func FillDefaults(o, d tokenserver.Options) tokenserver.Options {
	if o.Issuer == "" {
		o.Issuer = d.Issuer
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = d.MaxBodyBytes
	}
	if o.RefreshGrace == 0 {
		o.RefreshGrace = d.RefreshGrace
	}
	if o.AccessTokenAlg == "" {
		o.AccessTokenAlg = d.AccessTokenAlg
	}
	if o.IDTokenAlg == "" {
		o.IDTokenAlg = d.IDTokenAlg
	}
	if o.UserThrottle.MaxFailures == 0 {
		o.UserThrottle = d.UserThrottle
	}
	if o.SourceThrottle.MaxFailures == 0 {
		o.SourceThrottle = d.SourceThrottle
	}
	if o.HashConcurrency == 0 {
		o.HashConcurrency = d.HashConcurrency
	}
	if o.MaxFamiliesPerUser == 0 {
		o.MaxFamiliesPerUser = d.MaxFamiliesPerUser
	}
	if o.MaxRevocationsPerClient == 0 {
		o.MaxRevocationsPerClient = d.MaxRevocationsPerClient
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	if o.ServiceAccountReviewTTL == 0 {
		o.ServiceAccountReviewTTL = d.ServiceAccountReviewTTL
	}
	if o.ServiceAccountReviewCacheSize == 0 {
		o.ServiceAccountReviewCacheSize = d.ServiceAccountReviewCacheSize
	}
	if o.ServiceAccountReviewConcurrency == 0 {
		o.ServiceAccountReviewConcurrency = d.ServiceAccountReviewConcurrency
	}
	if o.ServiceAccountAudiences == nil {
		o.ServiceAccountAudiences = d.ServiceAccountAudiences
	}
	o.Log = d.Log
	return o
}

// Main is a test binary's TestMain over one Harness: it starts the server
// with the options mod makes from the defaults, hands the harness to started
// (which keeps it for the tests), runs the tests and exits with their code.
func Main(m *testing.M, mod func(*tokenserver.Options), started func(*Harness)) {
	ctx, cancel := context.WithCancel(context.Background())
	h, err := New(ctx, mod)
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, "start the token server:", err)
		os.Exit(1)
	}
	started(h)
	code := m.Run()
	cancel()
	os.Exit(code)
}

package tokenserver

import (
	"context"
	"encoding/hex"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

type swappableKeys struct{ set atomic.Pointer[keys.Set] }

func (k *swappableKeys) Current() *keys.Set { return k.set.Load() }

func (k *swappableKeys) activate(t *testing.T, now time.Time) {
	t.Helper()
	key, err := keys.GenerateKey(keys.ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	key.State = keys.StateActive
	set, err := keys.NewSet([]keys.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	k.set.Store(set)
}

// TestStampOpensLiveLookupOnlyForFreshOwnIDs: only an id this server
// stamped less than liveLookupWindow ago is looked up beyond the cache;
// an invented id, a forged or altered stamp, an old id, an id of an
// earlier release and a malformed one are looked up store.CachedOnly. A
// stamp made just before a key rotation still counts.
func TestStampOpensLiveLookupOnlyForFreshOwnIDs(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	ks := &swappableKeys{}
	ks.activate(t, t0)
	s := &Server{opts: Options{IDTokenAlg: keys.ES256, AccessTokenAlg: keys.ES256, Clock: clk}, keys: ks, stampKeys: derivedKeys{info: stampKeyInfo}}
	live := func(ctx context.Context) bool { return !store.IsCachedOnly(ctx) }
	ctx := context.Background()

	fresh, err := s.newFamilyID(t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != familyIDLen {
		t.Fatalf("family id %q: length %d, want %d", fresh, len(fresh), familyIDLen)
	}
	if !live(s.familyContext(ctx, fresh)) {
		t.Fatal("a family id stamped now is looked up cache-only")
	}
	b, _ := hex.DecodeString(fresh)
	altered := append([]byte(nil), b...)
	altered[0] ^= 1 // another random part under the same stamp
	forged := append([]byte(nil), b...)
	forged[len(forged)-1] ^= 1 // the MAC
	later := append([]byte(nil), b...)
	later[16+3]++ // the issue time
	for name, id := range map[string]string{
		"random part altered": hex.EncodeToString(altered),
		"MAC altered":         hex.EncodeToString(forged),
		"time altered":        hex.EncodeToString(later),
		"earlier release":     fresh[:legacyFamilyIDLen],
		"not hex":             "zz" + fresh[2:],
	} {
		if live(s.familyContext(ctx, id)) {
			t.Errorf("%s: looked up beyond the cache", name)
		}
	}

	code, err := s.newCode(t0)
	if err != nil {
		t.Fatal(err)
	}
	if !live(s.codeContext(ctx, code)) {
		t.Fatal("a code stamped now is looked up cache-only")
	}
	altCode := code[:len(code)-1] + "A"
	if code[len(code)-1] == 'A' {
		altCode = code[:len(code)-1] + "B"
	}
	if live(s.codeContext(ctx, altCode)) || live(s.codeContext(ctx, authCodePrefix+"0123")) {
		t.Fatal("an altered or short code is looked up beyond the cache")
	}

	// A rotation: what was stamped with the key before still counts.
	clk.Step(time.Minute)
	ks.activate(t, clk.Now())
	if !live(s.familyContext(ctx, fresh)) {
		t.Fatal("a fresh id stamped before a key rotation is looked up cache-only")
	}
	clk.Step(liveLookupWindow)
	if live(s.familyContext(ctx, fresh)) || live(s.codeContext(ctx, code)) {
		t.Fatal("an id older than the window is looked up beyond the cache")
	}
}

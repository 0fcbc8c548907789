package tokens

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// Signers belong to their key set: after a rotation, a token minted with the
// new set carries the new key, even while another request still mints with
// the old set, and neither set vouches for the other's retired-and-removed
// key.
func TestMintUsesEachSetsOwnKey(t *testing.T) {
	f := getFixture(t)
	for _, alg := range testAlgs {
		t.Run(string(alg), func(t *testing.T) {
			old, cur := f.active[alg], f.next[alg]
			cur.State = keys.StateActive
			oldSet, err := keys.NewSet([]keys.Key{old})
			if err != nil {
				t.Fatal(err)
			}
			newSet, err := keys.NewSet([]keys.Key{cur})
			if err != nil {
				t.Fatal(err)
			}
			type kidPair struct{ want, tok string }
			kids := make(chan kidPair, 8)
			var wg sync.WaitGroup
			for i := range 8 {
				set, want, other := oldSet, old.ID, newSet
				if i%2 == 1 {
					set, want, other = newSet, cur.ID, oldSet
				}
				wg.Go(func() {
					tok, err := MintAccessToken(set, alg, accessClaims())
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := Verify(tok, set, accessOpts()); err != nil {
						t.Errorf("own set: %v", err)
					}
					if _, err := Verify(tok, other, accessOpts()); err == nil || !strings.Contains(err.Error(), reasonKID) {
						t.Errorf("other set: err = %v, want %q", err, reasonKID)
					}
					kids <- kidPair{want, tok}
				})
			}
			wg.Wait()
			close(kids)
			for p := range kids {
				if kid := header(t, p.tok).KeyID; kid != p.want {
					t.Errorf("kid = %s, want %s", kid, p.want)
				}
			}
		})
	}
}

// An empty expected issuer is a caller's mistake; go-jose would skip the
// check, so Verify refuses instead of accepting any issuer.
func TestVerifyRequiresIssuer(t *testing.T) {
	f := getFixture(t)
	for _, iss := range []string{testIssuer, ""} {
		c := accessClaims()
		c.Issuer = iss
		o := accessOpts()
		o.Issuer = ""
		if _, err := Verify(mintAccess(t, f, keys.ES256, c), f.set, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("token issuer %q with no expected issuer: err = %v", iss, err)
		}
	}
}

// RFC 7519 §4.1.4: the token must be used before exp. go-jose accepts a
// token at exactly exp+leeway; Verify does not.
func TestVerifyExpiryBoundary(t *testing.T) {
	f := getFixture(t)
	c := accessClaims()
	c.IssuedAt = fixedNow.Add(-time.Hour - 30*time.Second)
	o := accessOpts()
	tok := mintAccess(t, f, keys.EdDSA, c)
	for _, tc := range []struct {
		now time.Time
		ok  bool
	}{
		{fixedNow.Add(-time.Nanosecond), true},
		{fixedNow, false},
	} {
		o.Now = func() time.Time { return tc.now }
		_, err := Verify(tok, f.set, o)
		if (err == nil) != tc.ok {
			t.Errorf("at exp+leeway%+v: err = %v, want ok %v", tc.now.Sub(fixedNow), err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "expired") {
			t.Errorf("err = %v, want expired", err)
		}
	}
}

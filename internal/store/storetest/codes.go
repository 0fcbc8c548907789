package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// testCodes runs authorization codes through their life: created, redeemed
// once by compare-and-swap, a second redemption refused on the redeemed
// record, collected after expiry.
func testCodes(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Codes, fx.Namespace(t)
	want := &store.AuthCode{
		Digest: "code-digest", ClientUID: "uid-app", UserUID: "uid-alice", RedirectURI: "https://app.example/cb",
		RedirectURIGiven: true, Scopes: []string{"openid"}, Nonce: "n", Challenge: "c", ChallengeMethod: "S256",
		AuthTime: epoch, ExpiresAt: epoch.Add(time.Minute),
	}
	if err := st.Create(ctx, ns, "c1", want, owner); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := st.Create(ctx, ns, "c1", want, owner); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := st.Get(ctx, ns, "c1")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("get: %+v, %v; want %+v", got, err, want)
	}
	redeem := func(c *store.AuthCode) (store.Op, error) {
		if c.Redeemed() {
			return store.Keep, errRefused
		}
		c.RedeemedAt, c.FamilyID, c.AccessJTI = epoch.Add(time.Second), "fam", "jti"
		return store.Write, nil
	}
	got, err = st.Update(ctx, ns, "c1", redeem)
	if err != nil || !got.Redeemed() || got.FamilyID != "fam" {
		t.Fatalf("first redemption: %+v, %v", got, err)
	}
	if _, err := st.Update(ctx, ns, "c1", redeem); !errors.Is(err, errRefused) {
		t.Fatalf("second redemption: %v, want the updater's refusal", err)
	}
	fx.PutUnreadable(t, CodeRecords, ns, "broken")
	if _, err := st.Get(ctx, ns, "broken"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get unreadable code: %v, want ErrNotFound", err)
	}
	fx.Settle(t, ns)
	retention := 10 * time.Minute
	removed, err := st.Collect(ctx, func(namespace string, c *store.AuthCode) string {
		if namespace == ns && !epoch.Add(time.Hour).Before(c.ExpiresAt.Add(retention)) {
			return "expired"
		}
		return ""
	})
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if want := map[string]int{"expired": 1, store.ReasonUnreadable: 1}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("collect removed %v, want %v", removed, want)
	}
	if _, err := st.Get(ctx, ns, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("collected code still there: %v", err)
	}
}

func testRevocations(t *testing.T, fx Fixture) {
	ctx := context.Background()
	rv, ns := fx.Stores().Revocations, fx.Namespace(t)
	isRevoked := func(jti string) bool {
		t.Helper()
		ok, err := rv.IsRevoked(ctx, jti)
		if err != nil {
			t.Fatalf("is revoked %s: %v", jti, err)
		}
		return ok
	}
	if isRevoked("a") {
		t.Fatal("jti revoked before any revocation")
	}
	for _, r := range []struct {
		jti string
		exp time.Time
	}{{"a", epoch}, {"b", epoch.Add(time.Hour)}, {"a", epoch.Add(2 * time.Hour)}} {
		if err := rv.Revoke(ctx, r.jti, r.exp, "uid-app"); err != nil {
			t.Fatalf("revoke %s: %v", r.jti, err)
		}
	}
	fx.Settle(t, ns)
	if !isRevoked("a") || !isRevoked("b") || isRevoked("c") {
		t.Fatalf("revoked a, b: got a=%v b=%v c=%v", isRevoked("a"), isRevoked("b"), isRevoked("c"))
	}
	collect := func(before time.Time) int {
		t.Helper()
		fx.Settle(t, ns)
		n, err := rv.Collect(ctx, before)
		if err != nil {
			t.Fatalf("collect before %v: %v", before, err)
		}
		return n
	}
	if n := collect(epoch.Add(-time.Second)); n != 0 {
		t.Fatalf("collected %d records before any expired", n)
	}
	// A record goes once its token has expired (the second revocation of
	// a kept the first expiry).
	if n := collect(epoch); n != 1 {
		t.Fatalf("collected %d records at the first expiry, want 1", n)
	}
	fx.Settle(t, ns)
	if isRevoked("a") || !isRevoked("b") {
		t.Fatalf("after collecting a: a=%v b=%v", isRevoked("a"), isRevoked("b"))
	}
	if n := collect(epoch.Add(3 * time.Hour)); n != 1 {
		t.Fatalf("collected %d records after every expiry, want 1", n)
	}
}

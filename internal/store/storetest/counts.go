package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// testCountFamilies: Count counts the records of one namespace issued to one
// client and user (by UID), only the live ones when asked, after Settle.
func testCountFamilies(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns, other := fx.Stores().Families, fx.Namespace(t), fx.Namespace(t)
	bob := store.Owner{UserName: "bob", UserUID: "uid-bob", ClientName: "app", ClientUID: "uid-app"}
	otherClient := store.Owner{UserName: "alice", UserUID: "uid-alice", ClientName: "web", ClientUID: "uid-web"}
	for i, o := range []store.Owner{owner, owner, owner, bob, otherClient} {
		f := newFamily("app", "alice")
		if i == 2 {
			f.ExpiresAt = epoch.Add(-time.Minute)
		}
		if err := st.Create(ctx, ns, fmt.Sprintf("f%d", i), f, o); err != nil {
			t.Fatal(err)
		}
	}
	// The same client and user UIDs in another namespace are counted there.
	if err := st.Create(ctx, other, "f0", newFamily("app", "alice"), owner); err != nil {
		t.Fatal(err)
	}
	fx.Settle(t, ns)
	fx.Settle(t, other)
	alive := func(f *store.Family) bool { return !f.Expired(epoch) }
	for _, tc := range []struct {
		name  string
		ns    string
		owner store.Owner
		live  func(*store.Family) bool
		want  int
	}{
		{"every record of alice", ns, owner, nil, 3},
		{"live records of alice", ns, owner, alive, 2},
		{"bob", ns, bob, nil, 1},
		{"another client", ns, otherClient, nil, 1},
		{"another namespace", other, owner, nil, 1},
		{"nobody", ns, store.Owner{ClientUID: "uid-app", UserUID: "uid-carol"}, nil, 0},
	} {
		if n, err := st.Count(ctx, tc.ns, tc.owner, tc.live); err != nil || n != tc.want {
			t.Errorf("%s: count %d, %v; want %d", tc.name, n, err, tc.want)
		}
	}
	// A deleted record is no longer counted.
	if err := st.Delete(ctx, ns, "f0"); err != nil {
		t.Fatal(err)
	}
	fx.Settle(t, ns)
	if n, err := st.Count(ctx, ns, owner, nil); err != nil || n != 2 {
		t.Errorf("after a deletion: count %d, %v; want 2", n, err)
	}
}

// testCountRevocations: revocations are counted per client until collected;
// revoking a jti twice counts once.
func testCountRevocations(t *testing.T, fx Fixture) {
	ctx := context.Background()
	rv, ns := fx.Stores().Revocations, fx.Namespace(t)
	for _, r := range []struct {
		jti, client string
		exp         time.Time
	}{{"a", "uid-app", epoch}, {"b", "uid-app", epoch.Add(time.Hour)}, {"a", "uid-app", epoch}, {"c", "uid-web", epoch}} {
		if err := rv.Revoke(ctx, r.jti, r.exp, types.UID(r.client)); err != nil {
			t.Fatal(err)
		}
	}
	fx.Settle(t, ns)
	count := func(client string) int {
		t.Helper()
		n, err := rv.Count(ctx, types.UID(client))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, w := count("uid-app"), count("uid-web"); a != 2 || w != 1 {
		t.Fatalf("counts: app %d, web %d; want 2, 1", a, w)
	}
	if _, err := rv.Collect(ctx, epoch); err != nil {
		t.Fatal(err)
	}
	fx.Settle(t, ns)
	if a, w := count("uid-app"), count("uid-web"); a != 1 || w != 0 {
		t.Fatalf("after collecting: app %d, web %d; want 1, 0", a, w)
	}
}

// testTenantIsolation: a record is read, updated, deleted and collected as
// the namespace it was created for only: another namespace presenting the
// same id finds nothing, and Collect names the record's own namespace.
func testTenantIsolation(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, victim, attacker := fx.Stores().Families, fx.Namespace(t), fx.Namespace(t)
	mustCreate(t, st, victim, "fam", newFamily("app", "alice"))
	expectGone(t, st, attacker, "fam")
	if _, err := st.Update(ctx, attacker, "fam", func(*store.Family) (store.Op, error) { return store.Write, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update from another namespace: %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, attacker, "fam"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, st, victim, "fam")
	fx.Settle(t, victim)
	seen := map[string]bool{}
	if _, err := st.Collect(ctx, func(ns string, f *store.Family) string {
		if f.Current == "digest-0" && f.ClientID == "app" {
			seen[ns] = true
		}
		return ""
	}); err != nil {
		t.Fatal(err)
	}
	if !seen[victim] || seen[attacker] {
		t.Fatalf("collect saw the record in %v, want %s only", seen, victim)
	}
}

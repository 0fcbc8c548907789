package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

var errRefused = errors.New("refused by the updater")

func mustCreate(t *testing.T, st store.Records[store.Family], ns, id string, f *store.Family) {
	t.Helper()
	if err := st.Create(context.Background(), ns, id, f, owner); err != nil {
		t.Fatalf("create %s/%s: %v", ns, id, err)
	}
}

func mustGet(t *testing.T, st store.Records[store.Family], ns, id string) *store.Family {
	t.Helper()
	f, err := st.Get(context.Background(), ns, id)
	if err != nil {
		t.Fatalf("get %s/%s: %v", ns, id, err)
	}
	return f
}

func expectGone(t *testing.T, st store.Records[store.Family], ns, id string) {
	t.Helper()
	if _, err := st.Get(context.Background(), ns, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %s/%s: got %v, want ErrNotFound", ns, id, err)
	}
}

func testCreateGet(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Families, fx.Namespace(t)
	want := newFamily("app", "alice")
	mustCreate(t, st, ns, "f1", want)
	if got := mustGet(t, st, ns, "f1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("get: got %+v, want %+v", got, want)
	}
	if err := st.Create(ctx, ns, "f1", newFamily("other", "bob"), owner); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	if got := mustGet(t, st, ns, "f1"); got.ClientID != "app" {
		t.Fatalf("a refused create changed the record: %+v", got)
	}
	expectGone(t, st, ns, "missing")
	// The same id in another namespace is another record.
	other := fx.Namespace(t)
	expectGone(t, st, other, "f1")
	mustCreate(t, st, other, "f1", newFamily("other", "bob"))
	if got := mustGet(t, st, ns, "f1"); got.ClientID != "app" {
		t.Fatalf("record of another namespace shows through: %+v", got)
	}
}

func testUpdateOps(t *testing.T, fx Fixture) {
	tests := []struct {
		name string
		fn   store.Updater[store.Family]
		// wantErr is the error Update returns; wantCurrent the stored
		// Current afterwards, "" when the record is gone.
		wantErr     error
		wantCurrent string
		wantNil     bool
	}{
		{"keep", func(f *store.Family) (store.Op, error) {
			f.Current = "changed in place"
			return store.Keep, nil
		}, nil, "digest-0", false},
		{"write", func(f *store.Family) (store.Op, error) {
			f.Previous, f.Current = f.Current, "digest-1"
			return store.Write, nil
		}, nil, "digest-1", false},
		{"delete", func(*store.Family) (store.Op, error) { return store.Delete, nil }, nil, "", true},
		{"refusal writes nothing", func(f *store.Family) (store.Op, error) {
			f.Current = "must not be written"
			return store.Write, errRefused
		}, errRefused, "digest-0", true},
		{"refusal keeps", func(*store.Family) (store.Op, error) { return store.Keep, errRefused }, errRefused, "digest-0", true},
		// A replayed refresh token: the family is revoked and the caller
		// learns why.
		{"replay", func(*store.Family) (store.Op, error) { return store.Delete, errRefused }, errRefused, "", true},
	}
	st, ns := fx.Stores().Families, fx.Namespace(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("op%d", i)
			mustCreate(t, st, ns, id, newFamily("app", "alice"))
			got, err := st.Update(context.Background(), ns, id, tc.fn)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("update: got error %v, want %v", err, tc.wantErr)
			}
			if (got == nil) != tc.wantNil {
				t.Fatalf("update returned %+v, want nil: %v", got, tc.wantNil)
			}
			if got != nil && got.Current != tc.wantCurrent {
				t.Fatalf("update returned Current %q, want %q", got.Current, tc.wantCurrent)
			}
			if tc.wantCurrent == "" {
				expectGone(t, st, ns, id)
				return
			}
			if stored := mustGet(t, st, ns, id); stored.Current != tc.wantCurrent {
				t.Fatalf("stored Current %q, want %q", stored.Current, tc.wantCurrent)
			}
		})
	}
}

func testUpdateMissing(t *testing.T, fx Fixture) {
	st, ns := fx.Stores().Families, fx.Namespace(t)
	called := false
	_, err := st.Update(context.Background(), ns, "missing", func(*store.Family) (store.Op, error) {
		called = true
		return store.Write, nil
	})
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("update of a missing record: error %v, updater called %v; want ErrNotFound, not called", err, called)
	}
	// Updating a deleted record finds nothing either, and creates nothing.
	mustCreate(t, st, ns, "gone", newFamily("app", "alice"))
	if err := st.Delete(context.Background(), ns, "gone"); err != nil {
		t.Fatal(err)
	}
	fx.Settle(t, ns)
	_, err = st.Update(context.Background(), ns, "gone", func(*store.Family) (store.Op, error) { return store.Write, nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a deleted record: %v, want ErrNotFound", err)
	}
	expectGone(t, st, ns, "gone")
}

func testDeleteIdempotent(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Families, fx.Namespace(t)
	mustCreate(t, st, ns, "f", newFamily("app", "alice"))
	for i := range 2 {
		if err := st.Delete(ctx, ns, "f"); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
		expectGone(t, st, ns, "f")
	}
	if err := st.Delete(ctx, ns, "never-existed"); err != nil {
		t.Fatalf("delete of a record that never existed: %v", err)
	}
	// The id can be used again.
	mustCreate(t, st, ns, "f", newFamily("app", "alice"))
}

// testConcurrentUpdates races writers on one record: every update that
// succeeded is in the record, none lost to another (the compare-and-swap),
// and an updater that loses is run again on the winner's record.
func testConcurrentUpdates(t *testing.T, fx Fixture) {
	const writers = 20
	st, ns := fx.Stores().Families, fx.Namespace(t)
	mustCreate(t, st, ns, "race", newFamily("app", "alice"))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			scope := fmt.Sprintf("s%02d", i)
			for {
				_, err := st.Update(context.Background(), ns, "race", func(f *store.Family) (store.Op, error) {
					if slices.Contains(f.Scopes, scope) {
						return store.Keep, fmt.Errorf("%s appended twice", scope)
					}
					f.Scopes = append(f.Scopes, scope)
					return store.Write, nil
				})
				if errors.Is(err, store.ErrConflict) {
					continue // the record kept changing; a caller may retry
				}
				errs <- err
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	got := mustGet(t, st, ns, "race").Scopes
	if len(got) != writers+1 {
		t.Fatalf("scopes after %d appends: %v", writers, got)
	}
	for i := range writers {
		if !slices.Contains(got, fmt.Sprintf("s%02d", i)) {
			t.Fatalf("append s%02d lost: %v", i, got)
		}
	}
}

// dropIn returns a drop function that judges only the records of ns (a
// Kubernetes store lists every namespace).
func dropIn(ns string, reason func(*store.Family) string) func(string, *store.Family) string {
	return func(namespace string, f *store.Family) string {
		if namespace != ns {
			return ""
		}
		return reason(f)
	}
}

func testCollectByReason(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Families, fx.Namespace(t)
	live := newFamily("app", "alice")
	expired := newFamily("app", "alice")
	expired.ExpiresAt = epoch.Add(-time.Minute)
	orphaned := newFamily("deleted-client", "alice")
	mustCreate(t, st, ns, "live", live)
	mustCreate(t, st, ns, "expired", expired)
	mustCreate(t, st, ns, "orphaned", orphaned)
	fx.PutUnreadable(t, FamilyRecords, ns, "broken")
	fx.Settle(t, ns)
	got, err := st.Collect(ctx, dropIn(ns, func(f *store.Family) string {
		switch {
		case f.Expired(epoch):
			return "expired"
		case f.ClientID == "deleted-client":
			return "orphaned"
		}
		return ""
	}))
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	want := map[string]int{"expired": 1, "orphaned": 1, store.ReasonUnreadable: 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("collect removed %v, want %v", got, want)
	}
	mustGet(t, st, ns, "live")
	for _, id := range []string{"expired", "orphaned", "broken"} {
		expectGone(t, st, ns, id)
	}
	// An unreadable record is no record to its readers either.
	fx.PutUnreadable(t, FamilyRecords, ns, "broken2")
	expectGone(t, st, ns, "broken2")
	if _, err := st.Update(ctx, ns, "broken2", func(*store.Family) (store.Op, error) { return store.Write, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of an unreadable record: %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, ns, "broken2"); err != nil {
		t.Fatal(err)
	}
}

// testCollectExpiry collects by Family.Expired at several times: idle
// expiry, then a use that resets it, then the absolute end.
func testCollectExpiry(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Families, fx.Namespace(t)
	mustCreate(t, st, ns, "f", newFamily("app", "alice"))
	collectAt := func(now time.Time) map[string]int {
		t.Helper()
		fx.Settle(t, ns)
		got, err := st.Collect(ctx, dropIn(ns, func(f *store.Family) string {
			if f.Expired(now) {
				return "expired"
			}
			return ""
		}))
		if err != nil {
			t.Fatalf("collect at %v: %v", now, err)
		}
		return got
	}
	if got := collectAt(epoch.Add(59 * time.Minute)); len(got) != 0 {
		t.Fatalf("collected a family idle 59m of 1h: %v", got)
	}
	// Used at +50m: idle until +1h50m.
	if _, err := st.Update(ctx, ns, "f", func(f *store.Family) (store.Op, error) {
		f.LastUsedAt = epoch.Add(50 * time.Minute)
		return store.Write, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := collectAt(epoch.Add(90 * time.Minute)); len(got) != 0 {
		t.Fatalf("collected a family used 40m ago: %v", got)
	}
	if got := collectAt(epoch.Add(110 * time.Minute)); got["expired"] != 1 {
		t.Fatalf("family idle for its whole idle lifetime not collected: %v", got)
	}
	expectGone(t, st, ns, "f")

	// The absolute end applies however recently it was used.
	f := newFamily("app", "alice")
	f.ExpiresAt, f.LastUsedAt = epoch.Add(time.Hour), epoch.Add(59*time.Minute)
	mustCreate(t, st, ns, "g", f)
	if got := collectAt(epoch.Add(time.Hour)); got["expired"] != 1 {
		t.Fatalf("family at its absolute end not collected: %v", got)
	}
}

// testCollectLeavesChanged: a record written after Collect listed it (here,
// by the drop function itself, as a refresh racing the collector would) is
// left for the next collection.
func testCollectLeavesChanged(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Families, fx.Namespace(t)
	mustCreate(t, st, ns, "f", newFamily("app", "alice"))
	fx.Settle(t, ns)
	got, err := st.Collect(ctx, dropIn(ns, func(*store.Family) string {
		if _, err := st.Update(ctx, ns, "f", func(f *store.Family) (store.Op, error) {
			f.LastUsedAt = epoch.Add(time.Minute)
			return store.Write, nil
		}); err != nil {
			t.Errorf("update during collect: %v", err)
		}
		return "expired"
	}))
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("collect removed a record changed since it was listed: %v", got)
	}
	if f := mustGet(t, st, ns, "f"); !f.LastUsedAt.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("record after collect: %+v", f)
	}
}

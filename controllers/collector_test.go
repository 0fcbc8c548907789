package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/memstore"
)

var collectNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestFamilyDropReason(t *testing.T) {
	owners := &namespaceOwners{
		clients: map[types.UID]bool{"client": true},
		users:   map[types.UID]bool{"alice": false, "carol": true},
	}
	live := store.Family{ClientUID: "client", UserUID: "alice", ExpiresAt: collectNow.Add(time.Hour), IdleTTL: time.Hour, LastUsedAt: collectNow}
	with := func(f func(*store.Family)) *store.Family {
		c := live
		f(&c)
		return &c
	}
	tests := []struct {
		name   string
		family *store.Family
		owners *namespaceOwners
		want   string
	}{
		{name: "live family of a live user stays", family: &live, owners: owners, want: ""},
		{name: "one nanosecond before the absolute end stays", family: with(func(f *store.Family) { f.ExpiresAt = collectNow.Add(1) }), owners: owners, want: ""},
		{name: "at the absolute end goes", family: with(func(f *store.Family) { f.ExpiresAt = collectNow }), owners: owners, want: "expired"},
		{name: "at the idle end goes", family: with(func(f *store.Family) { f.LastUsedAt = collectNow.Add(-time.Hour) }), owners: owners, want: "expired"},
		{name: "just before the idle end stays", family: with(func(f *store.Family) { f.LastUsedAt = collectNow.Add(-time.Hour + 1) }), owners: owners, want: ""},
		{name: "no idle limit stays", family: with(func(f *store.Family) { f.IdleTTL, f.LastUsedAt = 0, time.Time{} }), owners: owners, want: ""},
		{name: "expired wins over orphaned", family: with(func(f *store.Family) { f.ExpiresAt, f.ClientUID = collectNow, "gone" }), owners: owners, want: "expired"},
		{name: "client gone", family: with(func(f *store.Family) { f.ClientUID = "gone" }), owners: owners, want: "orphaned"},
		{name: "user gone", family: with(func(f *store.Family) { f.UserUID = "gone" }), owners: owners, want: "orphaned"},
		{name: "user disabled", family: with(func(f *store.Family) { f.UserUID = "carol" }), owners: owners, want: "orphaned"},
		{name: "owners unknown: kept", family: with(func(f *store.Family) { f.ClientUID = "gone" }), owners: nil, want: ""},
		{name: "owners unknown, expired: goes", family: with(func(f *store.Family) { f.ExpiresAt = collectNow }), owners: nil, want: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := familyDropReason(tt.family, collectNow, tt.owners); got != tt.want {
				t.Errorf("familyDropReason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCodeDropReason(t *testing.T) {
	tests := []struct {
		name      string
		expiresAt time.Time
		want      string
	}{
		{name: "not expired", expiresAt: collectNow.Add(time.Minute), want: ""},
		{name: "expired, within retention", expiresAt: collectNow.Add(-time.Minute), want: ""},
		{name: "one nanosecond before retention ends", expiresAt: collectNow.Add(-CodeRetention + 1), want: ""},
		{name: "retention ends now", expiresAt: collectNow.Add(-CodeRetention), want: "expired"},
		{name: "long gone", expiresAt: collectNow.Add(-24 * time.Hour), want: "expired"},
		{name: "no expiry recorded", expiresAt: time.Time{}, want: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeDropReason(&store.AuthCode{ExpiresAt: tt.expiresAt}, collectNow); got != tt.want {
				t.Errorf("codeDropReason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRevocationCutoff(t *testing.T) {
	if got, want := revocationCutoff(collectNow), collectNow.Add(-time.Minute); !got.Equal(want) {
		t.Errorf("revocationCutoff = %v, want %v", got, want)
	}
}

// collectorFixture is a Collector over memstore with a fake client holding
// one namespace's clients and users.
type collectorFixture struct {
	mem   *memstore.Store
	clock *clocktesting.FakeClock
	c     *Collector
}

func newCollectorFixture(t *testing.T, reader client.Reader, objs ...client.Object) *collectorFixture {
	t.Helper()
	if reader == nil {
		scheme := runtime.NewScheme()
		if err := v1alpha1.AddToScheme(scheme); err != nil {
			t.Fatal(err)
		}
		reader = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	}
	f := &collectorFixture{mem: memstore.New(), clock: clocktesting.NewFakeClock(collectNow)}
	f.c = &Collector{Families: f.mem.Families, Codes: f.mem.Codes, Revocations: f.mem.Revocations, Reader: reader, Clock: f.clock}
	return f
}

func (f *collectorFixture) family(t *testing.T, ns, id string, fam store.Family) {
	t.Helper()
	if err := f.mem.Families.Create(context.Background(), ns, id, &fam, store.Owner{}); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorCollect(t *testing.T) {
	ctx := context.Background()
	objs := []client.Object{
		&v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "cli", UID: "client"}},
		&v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "alice", UID: "alice"}},
		&v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "carol", UID: "carol"}, Spec: v1alpha1.OAuthUserSpec{Disabled: true}},
	}
	f := newCollectorFixture(t, nil, objs...)
	long := collectNow.Add(24 * time.Hour)
	f.family(t, "a", "live", store.Family{ClientUID: "client", UserUID: "alice", ExpiresAt: long})
	f.family(t, "a", "expired", store.Family{ClientUID: "client", UserUID: "alice", ExpiresAt: collectNow})
	f.family(t, "a", "disabled", store.Family{ClientUID: "client", UserUID: "carol", ExpiresAt: long})
	// The same UIDs in another namespace are other objects.
	f.family(t, "b", "elsewhere", store.Family{ClientUID: "client", UserUID: "alice", ExpiresAt: long})
	f.mem.Families.PutRaw("a", "garbage", []byte("{not json"))
	for id, exp := range map[string]time.Time{"fresh": collectNow, "retained": collectNow.Add(-CodeRetention + time.Second), "old": collectNow.Add(-CodeRetention)} {
		if err := f.mem.Codes.Create(ctx, "a", id, &store.AuthCode{ExpiresAt: exp}, store.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	for jti, exp := range map[string]time.Time{"valid": collectNow, "in-leeway": collectNow.Add(-30 * time.Second), "gone": collectNow.Add(-time.Minute)} {
		if err := f.mem.Revocations.Revoke(ctx, jti, exp, "uid-app"); err != nil {
			t.Fatal(err)
		}
	}

	st, err := f.c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := CollectStats{ExpiredFamilies: 2, OrphanedFamilies: 2, ExpiredCodes: 1, ExpiredRevocations: 1}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if _, err := f.mem.Families.Get(ctx, "a", "live"); err != nil {
		t.Errorf("the live family was removed: %v", err)
	}
	if n := f.mem.Families.Len(); n != 1 {
		t.Errorf("%d families left, want 1", n)
	}
	for jti, want := range map[string]bool{"valid": true, "in-leeway": true, "gone": false} {
		if got, _ := f.mem.Revocations.IsRevoked(ctx, jti); got != want {
			t.Errorf("IsRevoked(%s) = %v, want %v", jti, got, want)
		}
	}

	// A second collection finds nothing; time moving on takes the rest.
	if st, err := f.c.Collect(ctx); err != nil || st != (CollectStats{}) {
		t.Errorf("second collection = %+v, %v; want nothing", st, err)
	}
	f.clock.Step(25 * time.Hour)
	if st, err := f.c.Collect(ctx); err != nil || st.ExpiredFamilies != 1 || st.ExpiredCodes != 2 || st.ExpiredRevocations != 2 {
		t.Errorf("collection a day later = %+v, %v", st, err)
	}
}

// failingLister fails every List, as a cache that is not synced would.
type failingLister struct{ client.Reader }

func (failingLister) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("cache not synced")
}

// A family is never removed as orphaned on a failed read of its owners, and
// the other kinds are still collected.
func TestCollectorKeepsFamiliesWhenOwnersUnknown(t *testing.T) {
	ctx := context.Background()
	f := newCollectorFixture(t, failingLister{})
	f.family(t, "a", "unknown", store.Family{ClientUID: "client", UserUID: "alice", ExpiresAt: collectNow.Add(time.Hour)})
	f.family(t, "a", "expired", store.Family{ExpiresAt: collectNow})
	if err := f.mem.Codes.Create(ctx, "a", "old", &store.AuthCode{ExpiresAt: collectNow.Add(-time.Hour)}, store.Owner{}); err != nil {
		t.Fatal(err)
	}
	st, err := f.c.Collect(ctx)
	if err == nil {
		t.Fatal("no error from a failed listing")
	}
	if want := (CollectStats{ExpiredFamilies: 1, ExpiredCodes: 1}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if _, err := f.mem.Families.Get(ctx, "a", "unknown"); err != nil {
		t.Errorf("a family of unknown owners was removed: %v", err)
	}
}

func TestCollectorStartCollectsEveryInterval(t *testing.T) {
	f := newCollectorFixture(t, nil,
		&v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "cli", UID: "client"}},
		&v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "alice", UID: "alice"}})
	f.c.Interval = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.c.Start(ctx) }()
	// The first collection runs at start: wait for the ticker to exist.
	for !f.clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	f.family(t, "a", "expiring", store.Family{ClientUID: "client", UserUID: "alice", ExpiresAt: collectNow.Add(30 * time.Second)})
	f.clock.Step(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for f.mem.Families.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := f.mem.Families.Len(); n != 0 {
		t.Errorf("%d families left after an interval", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start = %v", err)
	}
	if !f.c.NeedLeaderElection() {
		t.Error("the collector must run on the leader only")
	}
}

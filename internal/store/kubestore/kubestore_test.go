package kubestore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, newFixture)
}

// countingReader counts the reads that reach the API server.
type countingReader struct {
	client.Reader
	gets atomic.Int64
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets.Add(1)
	return c.Reader.Get(ctx, key, obj, opts...)
}

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func family(current string) *store.Family {
	return &store.Family{
		ClientUID: "uid-app", ClientID: "app", UserUID: "uid-alice", Scopes: []string{"openid"},
		AuthTime: epoch, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour), LastUsedAt: epoch,
		Current: current, RotatedAt: epoch,
	}
}

var errRefused = errors.New("refused by the updater")

var owner = store.Owner{UserName: "alice", UserUID: "uid-alice", ClientName: "app", ClientUID: "uid-app"}

func rotate(to string) store.Updater[store.Family] {
	return func(f *store.Family) (store.Op, error) {
		f.Previous, f.Current = f.Current, to
		return store.Write, nil
	}
}

// laggingCache is a cache that has not seen any Secret yet, as a replica's
// cache has not seen one created a moment ago on another.
type laggingCache struct{ client.Reader }

func (laggingCache) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
}

// TestCacheLag: a record created a moment ago on another replica is not in
// this replica's cache yet; Get and Update find it all the same, with a live
// read. This replica's own write is remembered: the next update at once
// needs no live read though the cache still lags.
func TestCacheLag(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	live := &countingReader{Reader: mgr.GetAPIReader()}
	st := newStoresReading(ns, laggingCache{mgr.GetClient()}, live).Families
	other := newStores(ns, mgr.GetAPIReader()).Families
	if err := other.Create(ctx, ns, "made-elsewhere", family("d0"), owner); err != nil {
		t.Fatal(err)
	}
	f, err := st.Update(ctx, ns, "made-elsewhere", rotate("d1"))
	if err != nil || f.Current != "d1" {
		t.Fatalf("update of a record the cache has not seen: %+v, %v", f, err)
	}
	if live.gets.Load() != 1 {
		t.Fatalf("%d live reads, want 1", live.gets.Load())
	}
	before := live.gets.Load()
	if f, err = st.Update(ctx, ns, "made-elsewhere", rotate("d2")); err != nil || f.Current != "d2" {
		t.Fatalf("second update: %+v, %v", f, err)
	}
	if n := live.gets.Load() - before; n != 0 {
		t.Fatalf("second update made %d live reads, want 0 (own write remembered)", n)
	}
}

// TestCacheLagHandBuilt: a Secret created by hand, bypassing every store,
// is found by Get and Update at once.
func TestCacheLagHandBuilt(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	st := newStores(ns, mgr.GetAPIReader()).Families
	labels := contract.ManagedLabels(contract.KindRefreshFamily, "")
	labels[contract.LabelRecordNamespace] = ns
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubestore.RecordName(kubestore.FamilySecretPrefix, ns, "byhand"), Labels: labels},
		Data:       map[string][]byte{kubestore.FamilyDataKey: []byte(`{"clientUID":"uid-app","current":"d0"}`)},
	})
	if f, err := st.Get(ctx, ns, "byhand"); err != nil || f.Current != "d0" {
		t.Fatalf("get: %+v, %v", f, err)
	}
	if f, err := st.Update(ctx, ns, "byhand", rotate("d1")); err != nil || f.Current != "d1" || f.Previous != "d0" {
		t.Fatalf("update: %+v, %v", f, err)
	}
}

// TestStaleCopyRedecided: a replica's own memo (or cache) lags behind a
// write by another replica. A deletion decided on the stale copy is decided
// again on a live read, and a write on it loses the compare-and-swap and is
// made again on the live record; nothing is lost, nothing revoked wrongly.
func TestStaleCopyRedecided(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	mine, theirs := newStores(ns, mgr.GetAPIReader()).Families, newStores(ns, mgr.GetAPIReader()).Families
	if err := mine.Create(ctx, ns, "f", family("d0"), owner); err != nil {
		t.Fatal(err)
	}
	// mine remembers d0; the other replica rotates to d1.
	if _, err := theirs.Update(ctx, ns, "f", rotate("d1")); err != nil {
		t.Fatal(err)
	}
	errReplay := errors.New("replay")
	var seen []string
	f, err := mine.Update(ctx, ns, "f", func(f *store.Family) (store.Op, error) {
		seen = append(seen, f.Current)
		if f.Current == "d0" {
			return store.Delete, errReplay // what a lagging copy suggests
		}
		return store.Keep, nil
	})
	if err != nil || f == nil || f.Current != "d1" {
		t.Fatalf("update: %+v, %v; want the live record kept", f, err)
	}
	if !slices.Equal(seen, []string{"d0", "d1"}) {
		t.Fatalf("updater saw %v, want the stale copy then the live one", seen)
	}
	// A write on the stale copy: conflict, then made on the live record.
	if _, err := theirs.Update(ctx, ns, "f", rotate("d2")); err != nil {
		t.Fatal(err)
	}
	seen = nil
	f, err = mine.Update(ctx, ns, "f", func(f *store.Family) (store.Op, error) {
		seen = append(seen, f.Current)
		f.Scopes = append(f.Scopes, "more")
		return store.Write, nil
	})
	if err != nil || f.Current != "d2" || !slices.Equal(f.Scopes, []string{"openid", "more"}) {
		t.Fatalf("write after a lost compare-and-swap: %+v, %v", f, err)
	}
	if len(seen) < 2 || seen[len(seen)-1] != "d2" {
		t.Fatalf("updater saw %v, want a retry on d2", seen)
	}
}

// TestStoredFormat pins what Create writes: the JSON earlier releases read
// and write, in Secrets of the operator namespace named for the tenant
// namespace and labelled with it and the client and user UIDs, with no
// owner reference; nothing in the tenant namespace.
func TestStoredFormat(t *testing.T) {
	ctx := context.Background()
	ns, tenant := env.Namespace(t), env.Namespace(t)
	st := newStores(ns, mgr.GetAPIReader())
	long := owner
	long.ClientName = string(slices.Repeat([]byte("c"), 70))
	if err := st.Families.Create(ctx, tenant, "0123abcd", family("d0"), long); err != nil {
		t.Fatal(err)
	}
	if err := st.Codes.Create(ctx, tenant, "c0de", &store.AuthCode{Digest: "x"}, owner); err != nil {
		t.Fatal(err)
	}
	var inTenant corev1.SecretList
	if err := env.Client.List(ctx, &inTenant, client.InNamespace(tenant)); err != nil || len(inTenant.Items) != 0 {
		t.Fatalf("Secrets in the tenant namespace: %d, %v", len(inTenant.Items), err)
	}
	record := map[string]string{"tokenwarden.dev/namespace": tenant, "tokenwarden.dev/client-uid": "uid-app", "tokenwarden.dev/user-uid": "uid-alice"}
	for _, tc := range []struct {
		name, key string
		labels    map[string]string
	}{
		{"twrf-" + tenant + ".0123abcd", "family", map[string]string{
			"tokenwarden.dev/kind": "refresh-family", "app.kubernetes.io/managed-by": "tokenwarden",
			"tokenwarden.dev/client": long.ClientName[:63],
		}},
		{"twrc-" + tenant + ".c0de", "code", map[string]string{"tokenwarden.dev/kind": "authorization-code", "app.kubernetes.io/managed-by": "tokenwarden"}},
	} {
		maps.Copy(tc.labels, record)
		var s corev1.Secret
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: tc.name}, &s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if s.Type != corev1.SecretTypeOpaque || !maps.Equal(s.Labels, tc.labels) || len(s.Data) != 1 || s.Data[tc.key] == nil {
			t.Fatalf("%s: type %s, labels %v, data keys %v", tc.name, s.Type, s.Labels, slices.Collect(maps.Keys(s.Data)))
		}
		if len(s.OwnerReferences) != 0 {
			t.Fatalf("%s: owner references %+v", tc.name, s.OwnerReferences)
		}
	}
	if err := st.Revocations.Revoke(ctx, "jti-1", epoch, "uid-app"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("jti-1"))
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "twrv-" + hex.EncodeToString(sum[:20])}, &cm); err != nil {
		t.Fatalf("revocation record: %v", err)
	}
	wantLabels := map[string]string{"tokenwarden.dev/kind": "revoked-token", "app.kubernetes.io/managed-by": "tokenwarden", "tokenwarden.dev/client-uid": "uid-app"}
	if !maps.Equal(cm.Labels, wantLabels) || cm.Data["expires_at"] != "2026-03-01T12:00:00Z" || len(cm.Data) != 1 {
		t.Fatalf("revocation record: labels %v, data %v", cm.Labels, cm.Data)
	}
}

// TestMemoExpires: the memo of own writes is dated by the injected clock and
// trusted only for a few seconds; after that the cache (here, one that
// still lags) and then the API server are read.
func TestMemoExpires(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	live := &countingReader{Reader: mgr.GetAPIReader()}
	clk := clocktesting.NewFakeClock(epoch)
	st := kubestore.New(kubestore.Options{
		Cache: laggingCache{mgr.GetClient()}, Live: live, Writer: mgr.GetClient(), Namespace: ns, Clock: clk,
	}).Families
	if err := st.Create(ctx, ns, "f", family("d0"), owner); err != nil {
		t.Fatal(err)
	}
	clk.Step(9 * time.Second)
	if _, err := st.Update(ctx, ns, "f", rotate("d1")); err != nil || live.gets.Load() != 0 {
		t.Fatalf("update 9s after creating: %v, %d live reads; want the memo used", err, live.gets.Load())
	}
	clk.Step(10 * time.Second)
	if _, err := st.Update(ctx, ns, "f", rotate("d2")); err != nil || live.gets.Load() != 1 {
		t.Fatalf("update 10s after the last write: %v, %d live reads; want one", err, live.gets.Load())
	}
}

// recordsLag is a cache that has not seen any family record yet (as a
// replica's cache has not seen one created a moment ago on another) but
// sees everything else, such as the migration marker.
type recordsLag struct{ client.Reader }

func (c recordsLag) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if strings.HasPrefix(key.Name, kubestore.FamilySecretPrefix) {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

// TestCachedOnlyMakesNoLiveRead: a lookup marked store.CachedOnly (an id
// the token server cannot vouch was issued moments ago) of a record the
// cache lacks is ErrNotFound without a read of the API server, for Get,
// Update and the revocation-style Update alike, once the migration of the
// previous release's records is done. The same lookups unmarked find the
// record (TestCacheLag), and a record the cache holds is found marked or not.
func TestCachedOnlyMakesNoLiveRead(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	opts := kubeOptions(ns, &countingReader{Reader: mgr.GetAPIReader()})
	if err := kubestore.RecordCutoff(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := kubestore.Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cache to see the migration marker", func() error {
		return mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.MigratedSecretName}, &corev1.Secret{})
	})
	live := &countingReader{Reader: mgr.GetAPIReader()}
	lagging := newStoresReading(ns, recordsLag{mgr.GetClient()}, live).Families
	other := newStores(ns, mgr.GetAPIReader()).Families
	if err := other.Create(ctx, ns, "made-elsewhere", family("d0"), owner); err != nil {
		t.Fatal(err)
	}
	cachedOnly := store.CachedOnly(ctx)
	if _, err := lagging.Get(cachedOnly, ns, "made-elsewhere"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cached-only get of a record the cache lacks: %v, want ErrNotFound", err)
	}
	if _, err := lagging.Update(cachedOnly, ns, "made-elsewhere", rotate("d1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cached-only update of a record the cache lacks: %v, want ErrNotFound", err)
	}
	for i := range 50 {
		if _, err := lagging.Update(cachedOnly, ns, fmt.Sprintf("invented%d", i), rotate("d1")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cached-only update of an invented id: %v", err)
		}
	}
	if n := live.gets.Load(); n != 0 {
		t.Fatalf("cached-only lookups of records the cache lacks made %d live reads, want 0", n)
	}
	// The same store unmarked reads live and finds it.
	if f, err := lagging.Get(ctx, ns, "made-elsewhere"); err != nil || f.Current != "d0" {
		t.Fatalf("unmarked get: %+v, %v", f, err)
	}
	// A record the cache holds is found marked too.
	cached := newStoresReading(ns, mgr.GetClient(), live).Families
	waitFor(t, "cache to see the record", func() error {
		_, err := cached.Get(cachedOnly, ns, "made-elsewhere")
		return err
	})
	if f, err := cached.Update(cachedOnly, ns, "made-elsewhere", rotate("d1")); err != nil || f.Current != "d1" {
		t.Fatalf("cached-only update of a cached record: %+v, %v", f, err)
	}
}

// secretReads counts the Secrets read through a cache reader, by name.
type secretReads struct {
	client.Reader
	mu    sync.Mutex
	names []string
}

func (c *secretReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Reader.Get(ctx, key, obj, opts...)
	if _, ok := obj.(*corev1.Secret); ok && err == nil {
		c.mu.Lock()
		c.names = append(c.names, key.Name)
		c.mu.Unlock()
	}
	return err
}

func (c *secretReads) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.names
	c.names = nil
	return n
}

// TestUnknownClientReadsACredentialSecret: looking up a client id nobody
// holds reads a credential Secret from the cache as looking up a known
// client does (the one read last), so an anonymous caller cannot tell
// unknown client ids from known ones with a wrong secret by timing.
// BenchmarkClientAuthFailure in test/integration measures the two.
func TestUnknownClientReadsACredentialSecret(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	fx := &fixture{operatorNS: ns}
	fx.PutClient(t, &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Status: v1alpha1.OAuthClientStatus{ClientID: ns + ".app"}}, "s3cret", "", time.Time{})
	reads := &secretReads{Reader: mgr.GetClient()}
	dir := newStoresReading(ns, reads, mgr.GetAPIReader()).Directory
	if _, err := dir.ClientByID(ctx, ns+".app"); err != nil {
		t.Fatal(err)
	}
	known := reads.take()
	if _, err := dir.ClientByID(ctx, ns+".nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
	unknown := reads.take()
	if len(known) != 1 || !slices.Equal(unknown, known) {
		t.Fatalf("Secrets read for a known client %v, for an unknown one %v; want the same one", known, unknown)
	}
}

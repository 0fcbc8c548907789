package kubestore_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
)

// legacySecret is a record as the previous release (or a tenant imitating
// it) writes it in the client's namespace.
func legacySecret(ns, name, kind, key, data string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{"tokenwarden.dev/kind": kind, "app.kubernetes.io/managed-by": "tokenwarden"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{key: []byte(data)},
	}
}

// forgedFamily is a family a tenant writes, with the digest of a token it
// knows, for a user of its namespace.
const forgedFamily = `{"clientUID":"uid-app","clientID":"ns.app","userUID":"uid-alice","scopes":["openid"],` +
	`"createdAt":"2026-03-01T11:00:00Z","expiresAt":"2099-01-01T00:00:00Z","lastUsedAt":"2026-03-01T11:00:00Z","current":"known-digest"}`

func kubeOptions(opns string, live *countingReader) kubestore.Options {
	return kubestore.Options{Cache: mgr.GetClient(), Live: live, Writer: mgr.GetClient(), Namespace: opns, Clock: clock.RealClock{}}
}

// startVersion does what the operator does at start, before serving:
// record the cutoff in the operator namespace opns.
func startVersion(t *testing.T, opns string) {
	t.Helper()
	if err := kubestore.RecordCutoff(context.Background(), kubeOptions(opns, &countingReader{Reader: mgr.GetAPIReader()})); err != nil {
		t.Fatalf("record cutoff: %v", err)
	}
}

func secretExists(t *testing.T, ns, name string) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &corev1.Secret{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestMigrate: records of the previous release written before this version
// first ran (the cutoff, recorded at start) are moved into the
// operator namespace by the leader's migration; a record created after the
// cutoff (a forgery) and one changed after it (a tenant rewriting an honest
// record's digest) are ignored and never read. Once the migration is
// recorded done, a miss never looks at the old location again, and running
// it again does nothing.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	ns, opns := env.Namespace(t), env.Namespace(t)
	const a, b, d = "000000000000000000000000000000aa", "000000000000000000000000000000bb", "000000000000000000000000000000dd"
	create(t, legacySecret(ns, "twrf-"+a, "refresh-family", "family", previousFamily))
	rewritten := legacySecret(ns, "twrf-"+b, "refresh-family", "family", previousFamily)
	create(t, rewritten)
	create(t, legacySecret(ns, "twrc-c0de", "authorization-code", "code", previousCode))
	live := &countingReader{Reader: mgr.GetAPIReader()}
	st := kubestore.New(kubeOptions(opns, live))
	startVersion(t, opns)
	startVersion(t, opns) // a second replica, or a restart: the first cutoff stays
	// After the cutoff: a forgery, and an honest record rewritten.
	create(t, legacySecret(ns, "twrf-"+d, "refresh-family", "family", forgedFamily))
	rewritten.Data["family"] = []byte(forgedFamily)
	if err := env.Client.Update(ctx, rewritten); err != nil {
		t.Fatal(err)
	}
	// The migration looks at every namespace: records other tests left
	// count too.
	res, err := kubestore.Migrate(ctx, kubeOptions(opns, live))
	if err != nil || res.Moved < 2 || res.Ignored < 2 {
		t.Fatalf("migrate: %+v, %v; want at least 2 moved, 2 ignored", res, err)
	}
	if f, err := st.Families.Get(ctx, ns, a); err != nil || f.Current != "digest-b" {
		t.Fatalf("moved family: %+v, %v", f, err)
	}
	if c, err := st.Codes.Get(ctx, ns, "c0de"); err != nil || c.Digest != "code-digest" {
		t.Fatalf("moved code: %+v, %v", c, err)
	}
	for _, id := range []string{b, d} {
		if f, err := st.Families.Get(ctx, ns, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("family %s written after the cutoff: %+v, %v; want ErrNotFound", id, f, err)
		}
	}
	for name, want := range map[string]bool{"twrf-" + a: false, "twrc-c0de": false, "twrf-" + b: true, "twrf-" + d: true} {
		if got := secretExists(t, ns, name); got != want {
			t.Errorf("%s in the tenant namespace: %v, want %v", name, got, want)
		}
	}
	waitFor(t, "the cache to see the migration marker", func() error {
		return mgr.GetClient().Get(ctx, types.NamespacedName{Namespace: opns, Name: kubestore.MigratedSecretName}, &corev1.Secret{})
	})
	before := live.gets.Load()
	if _, err := st.Families.Get(ctx, ns, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the migration: %v", err)
	}
	if n := live.gets.Load() - before; n != 1 {
		t.Fatalf("a miss after the migration made %d live reads, want 1 (the operator namespace only)", n)
	}
	if res, err := kubestore.Migrate(ctx, kubeOptions(opns, live)); err != nil || res != (kubestore.MigrationResult{}) {
		t.Fatalf("second migration: %+v, %v", res, err)
	}
}

// TestForgedFamilyIgnored is attack 6 at the store: once this version runs,
// a tenant who writes a family Secret in its own namespace, under the
// previous release's name or this release's, with labels naming its
// namespace and a digest it knows, gets nothing from it, before and after
// the migration.
func TestForgedFamilyIgnored(t *testing.T) {
	ctx := context.Background()
	ns, opns := env.Namespace(t), env.Namespace(t)
	st := newStores(opns, mgr.GetAPIReader()).Families
	const id = "0123456789abcdef0123456789abcdef"
	startVersion(t, opns)
	for _, name := range []string{"twrf-" + id, kubestore.RecordName("twrf-", ns, id)} {
		s := legacySecret(ns, name, "refresh-family", "family", forgedFamily)
		s.Labels["tokenwarden.dev/namespace"] = ns
		create(t, s)
	}
	try := func(when string) {
		t.Helper()
		if f, err := st.Get(ctx, ns, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: forged family read: %+v, %v", when, f, err)
		}
		if _, err := st.Update(ctx, ns, id, rotate("attacker")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: forged family rotated: %v", when, err)
		}
	}
	try("before the migration")
	if _, err := kubestore.Migrate(ctx, kubeOptions(opns, &countingReader{Reader: mgr.GetAPIReader()})); err != nil {
		t.Fatal(err)
	}
	try("after the migration")
	for _, name := range []string{"twrf-" + id, kubestore.RecordName("twrf-", ns, id)} {
		if !secretExists(t, ns, name) {
			t.Errorf("the migration moved or deleted the forgery %s", name)
		}
	}
}

// TestNoCutoffNoMove: before this version recorded its cutoff, a record
// found in the old location is not moved, and presenting a token for it
// does not record the cutoff (after the forgery, trusting it): only the
// operator's start does.
func TestNoCutoffNoMove(t *testing.T) {
	ctx := context.Background()
	ns, opns := env.Namespace(t), env.Namespace(t)
	const id = "0123456789abcdef0123456789abcdee"
	create(t, legacySecret(ns, "twrf-"+id, "refresh-family", "family", forgedFamily))
	st := newStores(opns, mgr.GetAPIReader()).Families
	if f, err := st.Get(ctx, ns, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a record read without a cutoff: %+v, %v", f, err)
	}
	if secretExists(t, opns, kubestore.CutoffSecretName) {
		t.Fatal("a read recorded the cutoff")
	}
	startVersion(t, opns)
	if f, err := st.Get(ctx, ns, id); err != nil || f.Current != "known-digest" {
		t.Fatalf("the record written before the cutoff: %+v, %v; want it moved", f, err)
	}
}

// TestMigrateLegacyNamespaces: a namespace-scoped install migrates the
// records of the namespaces it serves and lists nothing cluster-wide (its
// ServiceAccount may not); a record in another namespace stays where it is.
func TestMigrateLegacyNamespaces(t *testing.T) {
	ctx := context.Background()
	served, other, opns := env.Namespace(t), env.Namespace(t), env.Namespace(t)
	const a, b = "000000000000000000000000000000a1", "000000000000000000000000000000b1"
	create(t, legacySecret(served, "twrf-"+a, "refresh-family", "family", previousFamily))
	create(t, legacySecret(other, "twrf-"+b, "refresh-family", "family", previousFamily))
	live := &listRecorder{Reader: mgr.GetAPIReader()}
	o := kubestore.Options{Cache: mgr.GetClient(), Live: live, Writer: mgr.GetClient(), Namespace: opns, Clock: clock.RealClock{},
		LegacyNamespaces: []string{served, opns}}
	if err := kubestore.RecordCutoff(ctx, o); err != nil {
		t.Fatal(err)
	}
	res, err := kubestore.Migrate(ctx, o)
	if err != nil || res.Moved != 1 || res.Ignored != 0 {
		t.Fatalf("migrate: %+v, %v; want the served namespace's one record moved", res, err)
	}
	if secretExists(t, served, "twrf-"+a) || !secretExists(t, other, "twrf-"+b) {
		t.Fatalf("the served namespace's record was not moved, or another namespace's was")
	}
	if f, err := kubestore.New(o).Families.Get(ctx, served, a); err != nil || f.Current != "digest-b" {
		t.Fatalf("moved family: %+v, %v", f, err)
	}
	for _, ns := range live.namespaces {
		if ns == "" {
			t.Fatalf("the migration listed Secrets cluster-wide (lists in %q)", live.namespaces)
		}
	}
}

// listRecorder records the namespace of every List.
type listRecorder struct {
	client.Reader
	namespaces []string
}

func (r *listRecorder) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.namespaces = append(r.namespaces, (&client.ListOptions{}).ApplyOptions(opts).Namespace)
	return r.Reader.List(ctx, list, opts...)
}

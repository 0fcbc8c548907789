package kubestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// recordKind is what tells refresh families and authorization codes apart in
// the cluster.
type recordKind struct {
	what    string // for error messages
	prefix  string // of the Secret name; the id follows
	dataKey string // holds the record's JSON
	label   string // value of contract.LabelKind
	// clientLabel: label the Secret with the client's name.
	clientLabel bool
	// legacy: the previous release kept this kind in tenant namespaces
	// (legacy.go); a kind it did not have is never looked for there.
	legacy bool
}

// secretRecords keeps records of type T as one Secret each in the operator's
// namespace, named RecordName(kind, tenant namespace, id) and labelled with
// the tenant namespace. Tenants cannot write there, so no tenant can forge
// a record; a record is read for the namespace it names only, so one
// tenant's token never resolves another tenant's record.
type secretRecords[T any] struct {
	kind      recordKind
	namespace string // the operator's
	cache     client.Reader
	live      client.Reader
	writer    client.Client
	memo      *writeMemo
	legacy    *legacyRecords
}

func newSecretRecords[T any](o Options, k recordKind) *secretRecords[T] {
	return &secretRecords[T]{
		kind: k, namespace: o.Namespace, cache: o.Cache, live: o.Live, writer: o.Writer,
		memo: newWriteMemo(o.Clock), legacy: newLegacyRecords(o),
	}
}

// RecordName is the name of a record Secret in the operator namespace: the
// kind's prefix, the tenant namespace, a dot, the id. A namespace is a DNS
// label (no dot), so the name is unambiguous, and it is never the name the
// previous release gave a record (prefix and id only).
func RecordName(prefix, namespace, id string) string {
	return prefix + namespace + "." + id
}

func (r *secretRecords[T]) key(namespace, id string) types.NamespacedName {
	return types.NamespacedName{Namespace: r.namespace, Name: RecordName(r.kind.prefix, namespace, id)}
}

// labels are the labels of a record of namespace issued to owner.
func (r *secretRecords[T]) labels(namespace string, owner store.Owner) map[string]string {
	labels := map[string]string{
		contract.LabelKind: r.kind.label, contract.LabelManagedBy: contract.ManagedBy,
		contract.LabelRecordNamespace: namespace,
	}
	if r.kind.clientLabel {
		labels[contract.LabelFamilyClient] = shortLabel(owner.ClientName)
	}
	if validLabel(string(owner.ClientUID)) && validLabel(string(owner.UserUID)) {
		labels[contract.LabelRecordClientUID] = string(owner.ClientUID)
		labels[contract.LabelRecordUserUID] = string(owner.UserUID)
	}
	return labels
}

// Create stores rec as a new Secret in the operator namespace. It has no
// owner reference (one cannot cross namespaces): the collector removes the
// records of a deleted client or user.
func (r *secretRecords[T]) Create(ctx context.Context, namespace, id string, rec *T, owner store.Owner) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.kind.what, err)
	}
	key := r.key(namespace, id)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: r.labels(namespace, owner)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{r.kind.dataKey: raw},
	}
	if err := r.writer.Create(ctx, s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return store.ErrExists
		}
		return fmt.Errorf("create %s %s: %w", r.kind.what, key, err)
	}
	// The first refresh usually follows at once, before the cache has
	// seen the Secret.
	r.memo.remember(s)
	return nil
}

// shortLabel truncates s to what a label value may hold.
func shortLabel(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// Get reads the record from the API server. A CachedOnly lookup of a record
// neither the memo nor the cache holds makes no read (missed).
func (r *secretRecords[T]) Get(ctx context.Context, namespace, id string) (*T, error) {
	if store.IsCachedOnly(ctx) && !r.known(ctx, namespace, id) {
		_, rec, err := r.missed(ctx, namespace, id)
		return rec, err
	}
	_, rec, err := r.readLive(ctx, namespace, id)
	return rec, err
}

// known reports whether the memo or the cache holds the record's Secret.
func (r *secretRecords[T]) known(ctx context.Context, namespace, id string) bool {
	key := r.key(namespace, id)
	if _, ok := r.memo.recall(key); ok {
		return true
	}
	cached, err := r.cached(ctx, key)
	return cached || err != nil
}

// missed answers for a record the memo and the cache lack: one written a
// moment ago (maybe by another replica), or none at all. Unless the lookup
// is CachedOnly it is read from the API server; a CachedOnly one is none,
// except a record of the previous release not moved yet (only until the
// migration is done).
func (r *secretRecords[T]) missed(ctx context.Context, namespace, id string) (*corev1.Secret, *T, error) {
	if !store.IsCachedOnly(ctx) {
		return r.readLive(ctx, namespace, id)
	}
	moved, err := r.legacy.moveOne(ctx, r.kind, namespace, id)
	if err != nil {
		return nil, nil, err
	}
	if !moved {
		return nil, nil, store.ErrNotFound
	}
	return r.getLive(ctx, namespace, id)
}

// read returns the Secret and its record from the memo of this process's own
// writes, else from the API server when the cache (which holds records as
// metadata only, contract.StripForCache) knows it, else as missed decides
// (the cache has not seen it yet: it was created a moment ago, maybe on
// another replica; or there is none). fresh tells whether the copy came
// from the API server.
func (r *secretRecords[T]) read(ctx context.Context, namespace, id string) (s *corev1.Secret, rec *T, fresh bool, err error) {
	key := r.key(namespace, id)
	if s, ok := r.memo.recall(key); ok {
		if rec, err := r.decodeFor(namespace, s); err == nil {
			return s, rec, false, nil
		}
	}
	cached, err := r.cached(ctx, key)
	if err != nil {
		return nil, nil, false, err
	}
	if !cached {
		s, rec, err := r.missed(ctx, namespace, id)
		return s, rec, true, err
	}
	s, rec, err = r.readLive(ctx, namespace, id)
	return s, rec, true, err
}

// cached reports whether the cache holds the record Secret key.
func (r *secretRecords[T]) cached(ctx context.Context, key types.NamespacedName) (bool, error) {
	err := r.cache.Get(ctx, key, &corev1.Secret{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s %s: %w", r.kind.what, key, err)
	}
	return true, nil
}

// readLive reads the Secret and its record from the API server. Until the
// records of the previous release are all moved, a record not found may
// still be one of those: it is moved now (legacyRecords.move), and read
// again.
func (r *secretRecords[T]) readLive(ctx context.Context, namespace, id string) (*corev1.Secret, *T, error) {
	s, rec, err := r.getLive(ctx, namespace, id)
	if !errors.Is(err, store.ErrNotFound) {
		return s, rec, err
	}
	moved, merr := r.legacy.moveOne(ctx, r.kind, namespace, id)
	if merr != nil {
		return nil, nil, merr
	}
	if !moved {
		return nil, nil, err
	}
	return r.getLive(ctx, namespace, id)
}

func (r *secretRecords[T]) getLive(ctx context.Context, namespace, id string) (*corev1.Secret, *T, error) {
	key := r.key(namespace, id)
	var s corev1.Secret
	if err := r.live.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, store.ErrNotFound
		}
		return nil, nil, fmt.Errorf("get %s %s: %w", r.kind.what, key, err)
	}
	rec, err := r.decodeFor(namespace, &s)
	if err != nil {
		return nil, nil, err
	}
	return &s, rec, nil
}

// decodeFor reads the record of s for namespace: a record that names
// another namespace (or none) is not that namespace's, whatever its name.
func (r *secretRecords[T]) decodeFor(namespace string, s *corev1.Secret) (*T, error) {
	if s.Labels[contract.LabelRecordNamespace] != namespace || s.Labels[contract.LabelKind] != r.kind.label {
		return nil, store.ErrNotFound
	}
	return r.decode(s)
}

// decode reads the record of s; a record that cannot be read is as good as
// none.
func (r *secretRecords[T]) decode(s *corev1.Secret) (*T, error) {
	var rec T
	if err := json.Unmarshal(s.Data[r.kind.dataKey], &rec); err != nil {
		return nil, store.ErrNotFound
	}
	return &rec, nil
}

// Delete removes the record; a record already gone is fine. A record of the
// previous release not moved yet is moved first, so the migration cannot
// bring back what was deleted.
func (r *secretRecords[T]) Delete(ctx context.Context, namespace, id string) error {
	if _, err := r.legacy.moveOne(ctx, r.kind, namespace, id); err != nil {
		return err
	}
	key := r.key(namespace, id)
	r.memo.forget(key)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := r.writer.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s: %w", r.kind.what, key, err)
	}
	return nil
}

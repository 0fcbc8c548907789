package kubestore

import (
	"context"
	"encoding/json"
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
}

// secretRecords keeps records of type T as one Secret each, named
// prefix+id in the record's namespace.
type secretRecords[T any] struct {
	kind   recordKind
	cache  client.Reader
	live   client.Reader
	writer client.Client
	memo   *writeMemo
}

func newSecretRecords[T any](o Options, k recordKind) *secretRecords[T] {
	return &secretRecords[T]{kind: k, cache: o.Cache, live: o.Live, writer: o.Writer, memo: newWriteMemo(o.Clock)}
}

func (r *secretRecords[T]) key(namespace, id string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: r.kind.prefix + id}
}

// Create stores rec as a new Secret owned by the user (not as controller,
// and without blocking the owner's deletion).
func (r *secretRecords[T]) Create(ctx context.Context, namespace, id string, rec *T, owner store.Owner) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.kind.what, err)
	}
	labels := map[string]string{contract.LabelKind: r.kind.label, contract.LabelManagedBy: contract.ManagedBy}
	if r.kind.clientLabel {
		labels[contract.LabelFamilyClient] = shortLabel(owner.ClientName)
	}
	no := false
	apiVersion, kind := ownerKind.ToAPIVersionAndKind()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: r.kind.prefix + id, Namespace: namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: apiVersion, Kind: kind, Name: owner.UserName, UID: owner.UserUID,
				Controller: &no, BlockOwnerDeletion: &no,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{r.kind.dataKey: raw},
	}
	if err := r.writer.Create(ctx, s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return store.ErrExists
		}
		return fmt.Errorf("create %s %s/%s: %w", r.kind.what, namespace, s.Name, err)
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

// Get reads the record from the API server.
func (r *secretRecords[T]) Get(ctx context.Context, namespace, id string) (*T, error) {
	_, rec, err := r.readLive(ctx, r.key(namespace, id))
	return rec, err
}

// read returns the Secret and its record from the memo of this process's own
// writes, else the cache, else (the cache has not seen it yet: it was created
// a moment ago, maybe on another replica) the API server. fresh tells
// whether the copy came from the API server.
func (r *secretRecords[T]) read(ctx context.Context, key types.NamespacedName) (s *corev1.Secret, rec *T, fresh bool, err error) {
	s, ok := r.memo.recall(key)
	if !ok {
		s = &corev1.Secret{}
		err := r.cache.Get(ctx, key, s)
		if apierrors.IsNotFound(err) {
			s, rec, err := r.readLive(ctx, key)
			return s, rec, true, err
		}
		if err != nil {
			return nil, nil, false, fmt.Errorf("get %s %s: %w", r.kind.what, key, err)
		}
	}
	if rec, err := r.decode(s); err == nil {
		return s, rec, false, nil
	}
	// A copy that cannot be decoded may be an old one: judge the live one.
	s, rec, err = r.readLive(ctx, key)
	return s, rec, true, err
}

// readLive reads the Secret and its record from the API server.
func (r *secretRecords[T]) readLive(ctx context.Context, key types.NamespacedName) (*corev1.Secret, *T, error) {
	var s corev1.Secret
	if err := r.live.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, store.ErrNotFound
		}
		return nil, nil, fmt.Errorf("get %s %s: %w", r.kind.what, key, err)
	}
	rec, err := r.decode(&s)
	if err != nil {
		return nil, nil, err
	}
	return &s, rec, nil
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

// Delete removes the record; a record already gone is fine.
func (r *secretRecords[T]) Delete(ctx context.Context, namespace, id string) error {
	key := r.key(namespace, id)
	r.memo.forget(key)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := r.writer.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s: %w", r.kind.what, key, err)
	}
	return nil
}

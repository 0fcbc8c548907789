package kubestore

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Update applies fn as one compare-and-swap on the Secret's resourceVersion.
// The first attempt may decide on a copy that lags behind (the memo or the
// cache): that is the fast path, one write and no read from the API server.
// A refusal or a deletion decided on such a copy is decided again on a live
// read, so a replay verdict that revokes a family never rests on stale data;
// a lost compare-and-swap reads live and decides again too.
func (r *secretRecords[T]) Update(ctx context.Context, namespace, id string, fn store.Updater[T]) (*T, error) {
	live := false
	for range maxAttempts {
		var (
			s     *corev1.Secret
			rec   *T
			fresh = true
			err   error
		)
		if live {
			s, rec, err = r.readLive(ctx, namespace, id)
		} else {
			s, rec, fresh, err = r.read(ctx, namespace, id)
		}
		if err != nil {
			return nil, err
		}
		op, ferr := fn(rec)
		live = true
		if !fresh && (ferr != nil || op == store.Delete) {
			continue
		}
		out, done, err := r.apply(ctx, s, rec, op, ferr)
		if done {
			return out, err
		}
	}
	return nil, store.ErrConflict
}

// apply carries out what fn decided on s. done is false when the
// compare-and-swap was lost and the decision must be made again.
func (r *secretRecords[T]) apply(ctx context.Context, s *corev1.Secret, rec *T, op store.Op, ferr error) (out *T, done bool, err error) {
	switch op {
	case store.Keep:
		if ferr != nil {
			return nil, true, ferr
		}
		// fn may have changed rec in place: answer what is stored.
		out, err := r.decode(s)
		return out, true, err
	case store.Write:
		if ferr != nil {
			return nil, true, ferr
		}
		err := r.write(ctx, s, rec)
		switch {
		case apierrors.IsConflict(err):
			return nil, false, nil
		case apierrors.IsNotFound(err):
			// Deleted between the read and the write.
			return nil, true, store.ErrNotFound
		case err != nil:
			return nil, true, fmt.Errorf("update %s %s/%s: %w", r.kind.what, s.Namespace, s.Name, err)
		}
		return rec, true, nil
	case store.Delete:
		err := r.deleteExact(ctx, s)
		switch {
		case apierrors.IsConflict(err):
			return nil, false, nil
		case err != nil && !apierrors.IsNotFound(err):
			return nil, true, fmt.Errorf("delete %s %s/%s: %w", r.kind.what, s.Namespace, s.Name, err)
		}
		// Gone either way: the deletion was decided on fresh data.
		return nil, true, ferr
	}
	return nil, true, fmt.Errorf("update %s: unknown op %d", r.kind.what, op)
}

// write stores rec in s with the resourceVersion s was read at.
func (r *secretRecords[T]) write(ctx context.Context, s *corev1.Secret, rec *T) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.kind.what, err)
	}
	u := s.DeepCopy()
	u.Data = map[string][]byte{r.kind.dataKey: raw}
	if err := r.writer.Update(ctx, u); err != nil {
		return err
	}
	r.memo.remember(u)
	return nil
}

// deleteExact deletes s only as it was read (UID and resourceVersion): a
// record changed since is decided again, never removed on stale data.
func (r *secretRecords[T]) deleteExact(ctx context.Context, s *corev1.Secret) error {
	r.memo.forget(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	rv := s.ResourceVersion
	return r.writer.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &rv})
}

// Collect lists the records from the API server, a page at a time (the
// cache holds records as metadata only, and the leader's collection is the
// one reader of every record), and deletes those drop names a reason for,
// each only as it was listed: a family used since (and so no longer idle)
// is left for the next collection. drop gets the tenant namespace the
// record names. Only records of the operator namespace that name one are
// listed: a record of the previous release waits for the migration, never
// for the collector.
func (r *secretRecords[T]) Collect(ctx context.Context, drop func(namespace string, rec *T) string) (map[string]int, error) {
	removed := map[string]int{}
	opts := []client.ListOption{client.InNamespace(r.namespace), client.MatchingLabels{contract.LabelKind: r.kind.label},
		client.HasLabels{contract.LabelRecordNamespace}, client.Limit(collectPage)}
	for cont := ""; ; {
		var list corev1.SecretList
		if err := r.live.List(ctx, &list, append(opts, client.Continue(cont))...); err != nil {
			return removed, fmt.Errorf("list %s records: %w", r.kind.what, err)
		}
		for i := range list.Items {
			if err := r.collectOne(ctx, &list.Items[i], drop, removed); err != nil {
				return removed, err
			}
		}
		if cont = list.Continue; cont == "" {
			return removed, nil
		}
	}
}

// collectPage is how many records Collect reads at a time.
const collectPage = 500

// collectOne deletes s if drop names a reason, and counts it in removed.
func (r *secretRecords[T]) collectOne(ctx context.Context, s *corev1.Secret, drop func(namespace string, rec *T) string, removed map[string]int) error {
	reason := store.ReasonUnreadable
	if rec, err := r.decode(s); err == nil {
		reason = drop(s.Labels[contract.LabelRecordNamespace], rec)
	}
	if reason == "" {
		return nil
	}
	err := r.deleteExact(ctx, s)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", r.kind.what, s.Namespace, s.Name, err)
	}
	removed[reason]++
	return nil
}

// Count counts, from the cache through contract.IndexRecordOwner, the
// records of namespace issued to owner's client and user; with live, it
// reads those records from the API server and counts the live ones (the
// cache holds records as metadata only), which the caller does only at its
// cap.
func (r *secretRecords[T]) Count(ctx context.Context, namespace string, owner store.Owner, live func(*T) bool) (int, error) {
	if live != nil {
		return r.countLive(ctx, namespace, owner, live)
	}
	var list corev1.SecretList
	key := contract.RecordOwnerKey(namespace, string(owner.ClientUID), string(owner.UserUID))
	// Read-only: the cache's objects are not copied.
	if err := r.cache.List(ctx, &list, client.InNamespace(r.namespace), client.MatchingFields{contract.IndexRecordOwner: key},
		client.MatchingLabels{contract.LabelKind: r.kind.label}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("count %s records: %w", r.kind.what, err)
	}
	return len(list.Items), nil
}

func (r *secretRecords[T]) countLive(ctx context.Context, namespace string, owner store.Owner, live func(*T) bool) (int, error) {
	var list corev1.SecretList
	if err := r.live.List(ctx, &list, client.InNamespace(r.namespace), client.MatchingLabels{contract.LabelKind: r.kind.label,
		contract.LabelRecordNamespace: namespace, contract.LabelRecordClientUID: string(owner.ClientUID),
		contract.LabelRecordUserUID: string(owner.UserUID)}); err != nil {
		return 0, fmt.Errorf("count %s records: %w", r.kind.what, err)
	}
	n := 0
	for i := range list.Items {
		if rec, err := r.decode(&list.Items[i]); err == nil && live(rec) {
			n++
		}
	}
	return n, nil
}

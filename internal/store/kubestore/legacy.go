package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// Releases before this one kept refresh families and authorization codes as
// Secrets prefix+id in the client's namespace, where anyone who may write
// Secrets there could forge one. This release keeps them in the operator
// namespace and moves the old ones there once, trusting only what was
// written before it first started:
//
//   - At the first start, before serving (RecordCutoff, called by the
//     operator's NewManager on every replica), the Secret CutoffSecretName is
//     created in the operator namespace and never changed. Its resourceVersion is the
//     cutoff: a record of the previous release whose own resourceVersion is
//     lower was last written (created or changed) before this version ran,
//     so no tenant can have forged or altered it since. resourceVersions of
//     one resource are comparable (k8s.io/apimachinery/pkg/util/resourceversion);
//     the cutoff is a Secret for that reason. A store whose resourceVersions
//     are not integers falls back to creationTimestamp, also set by the API
//     server.
//   - The leader moves every such record (Migrate); until it has written
//     MigratedSecretName, a record missed in the operator namespace is moved
//     on demand, so a refresh never fails for a record not moved yet. The
//     on-demand move never records the cutoff itself: a tenant presenting
//     a token for a record it forged a moment ago must not be the one who
//     sets the cutoff after it. Without a cutoff nothing is moved.
//   - Afterwards the old location is never read again. A record written there
//     after the cutoff (a forgery, or a write of an old replica during a
//     rolling upgrade) is ignored.
const (
	// CutoffSecretName records when this version first started.
	CutoffSecretName = "tokenwarden-store-cutoff"
	// MigratedSecretName records that every record of the previous release
	// was moved.
	MigratedSecretName = "tokenwarden-store-migrated"
)

// legacyKinds are the records the previous release kept in tenant namespaces.
var legacyKinds = []recordKind{familyKind, codeKind}

// legacyRecords moves records of the previous release into the operator
// namespace.
type legacyRecords struct {
	cache, live client.Reader
	writer      client.Client
	namespace   string // the operator's
}

func newLegacyRecords(o Options) *legacyRecords {
	return &legacyRecords{cache: o.Cache, live: o.Live, writer: o.Writer, namespace: o.Namespace}
}

// MigrationResult counts what Migrate did.
type MigrationResult struct {
	// Moved records were written before the cutoff; Ignored ones after it
	// (left where they are, never read).
	Moved, Ignored int
}

// Migrate moves every record of the previous release written before the
// cutoff into the operator namespace, then records that it is done. It runs
// on the leader at start (the controllers' StoreMigration); once done, it
// returns at once.
func Migrate(ctx context.Context, o Options) (MigrationResult, error) {
	l := newLegacyRecords(o)
	var res MigrationResult
	if done, err := l.done(ctx, l.live); err != nil || done {
		return res, err
	}
	cutoff, err := l.ensureCutoff(ctx)
	if err != nil {
		return res, err
	}
	for _, k := range legacyKinds {
		list, err := l.listLegacy(ctx, k, o.LegacyNamespaces)
		if err != nil {
			return res, err
		}
		for i := range list {
			s := &list[i]
			if !l.isLegacy(k, s) {
				continue
			}
			if !writtenBefore(s, cutoff) {
				res.Ignored++
				continue
			}
			if err := l.move(ctx, k, s); err != nil {
				return res, err
			}
			res.Moved++
		}
	}
	marker := l.marker(MigratedSecretName)
	if err := l.writer.Create(ctx, marker); err != nil && !apierrors.IsAlreadyExists(err) {
		return res, fmt.Errorf("record the migration done: %w", err)
	}
	return res, nil
}

// listLegacy lists the Secrets that may be records of kind of the previous
// release: in every namespace, or in each of namespaces when given.
func (l *legacyRecords) listLegacy(ctx context.Context, k recordKind, namespaces []string) ([]corev1.Secret, error) {
	scopes := []client.ListOption{client.InNamespace("")}
	if len(namespaces) > 0 {
		scopes = scopes[:0]
		for _, ns := range namespaces {
			scopes = append(scopes, client.InNamespace(ns))
		}
	}
	var all []corev1.Secret
	for _, scope := range scopes {
		var list corev1.SecretList
		if err := l.live.List(ctx, &list, scope, client.MatchingLabels{contract.LabelKind: k.label}); err != nil {
			return nil, fmt.Errorf("list %s records of the previous release: %w", k.what, err)
		}
		all = append(all, list.Items...)
	}
	return all, nil
}

// moveOne moves the record of the previous release for namespace and id,
// if the migration is not done and there is one written before the cutoff.
// moved reports whether it did (or another replica did meanwhile).
func (l *legacyRecords) moveOne(ctx context.Context, k recordKind, namespace, id string) (moved bool, err error) {
	if !k.legacy {
		return false, nil
	}
	if done, err := l.done(ctx, l.cache); err != nil || done {
		return false, err
	}
	cutoff, err := l.cutoff(ctx)
	if err != nil || cutoff == nil {
		return false, err
	}
	var s corev1.Secret
	err = l.live.Get(ctx, types.NamespacedName{Namespace: namespace, Name: k.prefix + id}, &s)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s of the previous release: %w", k.what, err)
	}
	if !l.isLegacy(k, &s) || !writtenBefore(&s, cutoff) {
		return false, nil
	}
	return true, l.move(ctx, k, &s)
}

// done reports whether the migration is recorded as done.
func (l *legacyRecords) done(ctx context.Context, r client.Reader) (bool, error) {
	var s corev1.Secret
	err := r.Get(ctx, types.NamespacedName{Namespace: l.namespace, Name: MigratedSecretName}, &s)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the migration marker: %w", err)
	}
	return true, nil
}

// RecordCutoff records the cutoff at this version's first start, and is a
// no-op afterwards. Call it before the token server serves.
func RecordCutoff(ctx context.Context, o Options) error {
	_, err := newLegacyRecords(o).ensureCutoff(ctx)
	return err
}

// cutoff returns the cutoff Secret from the cache, else the API server; nil
// when none was recorded.
func (l *legacyRecords) cutoff(ctx context.Context) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: l.namespace, Name: CutoffSecretName}
	for _, r := range []client.Reader{l.cache, l.live} {
		s := &corev1.Secret{}
		err := r.Get(ctx, key, s)
		if err == nil {
			return s, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read the store cutoff: %w", err)
		}
	}
	return nil, nil
}

// ensureCutoff returns the cutoff Secret, creating it if there is none.
func (l *legacyRecords) ensureCutoff(ctx context.Context) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: l.namespace, Name: CutoffSecretName}
	s := &corev1.Secret{}
	err := l.live.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		s = l.marker(CutoffSecretName)
		if err = l.writer.Create(ctx, s); apierrors.IsAlreadyExists(err) {
			s = &corev1.Secret{}
			err = l.live.Get(ctx, key, s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("record the store cutoff: %w", err)
	}
	return s, nil
}

// marker is an empty, immutable Secret of the operator namespace.
func (l *legacyRecords) marker(name string) *corev1.Secret {
	immutable := true
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: l.namespace, Name: name,
			Labels: map[string]string{contract.LabelKind: contract.KindStoreCutoff, contract.LabelManagedBy: contract.ManagedBy},
		},
		Type: corev1.SecretTypeOpaque, Immutable: &immutable,
	}
}

// isLegacy reports whether s is where the previous release kept a record of
// kind: prefix+id in any namespace, never one this release writes.
func (l *legacyRecords) isLegacy(k recordKind, s *corev1.Secret) bool {
	if s.Labels[contract.LabelKind] != k.label || !strings.HasPrefix(s.Name, k.prefix) {
		return false
	}
	_, current := s.Labels[contract.LabelRecordNamespace]
	return s.Namespace != l.namespace || !current
}

// writtenBefore reports whether s was last written before the cutoff was
// recorded: by resourceVersion, else (not comparable) by creation.
func writtenBefore(s, cutoff *corev1.Secret) bool {
	if c, err := resourceversion.CompareResourceVersion(s.ResourceVersion, cutoff.ResourceVersion); err == nil {
		return c < 0
	}
	return s.CreationTimestamp.Before(&cutoff.CreationTimestamp)
}

// recordOwner is what every record's JSON says of whom it was issued to.
type recordOwner struct {
	ClientUID types.UID `json:"clientUID"`
	UserUID   types.UID `json:"userUID"`
}

// move takes s out of the old location first, with its UID and
// resourceVersion as preconditions: of concurrent movers one wins, and a
// record changed since it was judged stays where it is. Only the winner
// writes the record into the operator namespace, so a record moved and then
// deleted (a revoked family) is never brought back by a slower mover.
func (l *legacyRecords) move(ctx context.Context, k recordKind, s *corev1.Secret) error {
	rv := s.ResourceVersion
	err := l.writer.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &rv})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s %s/%s of the previous release: %w", k.what, s.Namespace, s.Name, err)
	}
	var owner recordOwner
	_ = json.Unmarshal(s.Data[k.dataKey], &owner) // an unreadable record is moved as it is, for the collector
	labels := map[string]string{
		contract.LabelKind: k.label, contract.LabelManagedBy: contract.ManagedBy, contract.LabelRecordNamespace: s.Namespace,
	}
	if v, ok := s.Labels[contract.LabelFamilyClient]; ok && k.clientLabel {
		labels[contract.LabelFamilyClient] = v
	}
	if validLabel(string(owner.ClientUID)) && validLabel(string(owner.UserUID)) {
		labels[contract.LabelRecordClientUID], labels[contract.LabelRecordUserUID] = string(owner.ClientUID), string(owner.UserUID)
	}
	moved := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: l.namespace, Name: RecordName(k.prefix, s.Namespace, strings.TrimPrefix(s.Name, k.prefix)), Labels: labels,
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{k.dataKey: s.Data[k.dataKey]},
	}
	if err := l.writer.Create(ctx, moved); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("move %s %s/%s: %w", k.what, s.Namespace, s.Name, err)
	}
	return nil
}

// validLabel reports whether v is a non-empty label value.
func validLabel(v string) bool {
	return v != "" && len(validation.IsValidLabelValue(v)) == 0
}

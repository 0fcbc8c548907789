package kubestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// revocations records revoked access tokens, one ConfigMap per jti in the
// operator's namespace, until the token expires: every replica sees a
// revocation through its cache.
type revocations struct {
	cache     ctrlclient.Reader
	writer    ctrlclient.Client
	namespace string
}

// RevokedName is the name of the revocation record of jti.
func RevokedName(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return RevokedPrefix + hex.EncodeToString(sum[:20])
}

// Revoke records jti, a token of client, as revoked until expires; revoking
// twice is fine.
func (r *revocations) Revoke(ctx context.Context, jti string, expires time.Time, client types.UID) error {
	labels := map[string]string{contract.LabelKind: contract.KindRevokedToken, contract.LabelManagedBy: contract.ManagedBy}
	if validLabel(string(client)) {
		labels[contract.LabelRecordClientUID] = string(client)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: RevokedName(jti), Labels: labels},
		Data:       map[string]string{RevokedExpiresKey: expires.UTC().Format(time.RFC3339)},
	}
	if err := r.writer.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("record revoked token: %w", err)
	}
	return nil
}

// IsRevoked reports whether jti was revoked, from the cache.
func (r *revocations) IsRevoked(ctx context.Context, jti string) (bool, error) {
	var cm corev1.ConfigMap
	err := r.cache.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: RevokedName(jti)}, &cm)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", err)
	}
	return true, nil
}

// Collect removes the records whose token expired at or before the given
// time, and those that cannot be read.
func (r *revocations) Collect(ctx context.Context, before time.Time) (int, error) {
	var list corev1.ConfigMapList
	if err := r.cache.List(ctx, &list, ctrlclient.InNamespace(r.namespace), ctrlclient.MatchingLabels{contract.LabelKind: contract.KindRevokedToken}); err != nil {
		return 0, fmt.Errorf("list revocation records: %w", err)
	}
	n := 0
	for i := range list.Items {
		cm := &list.Items[i]
		exp, err := time.Parse(time.RFC3339, cm.Data[RevokedExpiresKey])
		if err == nil && exp.After(before) {
			continue
		}
		err = r.writer.Delete(ctx, cm, ctrlclient.Preconditions{UID: &cm.UID})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("delete revocation record %s: %w", cm.Name, err)
		}
		n++
	}
	return n, nil
}

// Count counts the records of client's tokens, from the cache through
// contract.IndexRevokedClient.
func (r *revocations) Count(ctx context.Context, client types.UID) (int, error) {
	var list corev1.ConfigMapList
	if err := r.cache.List(ctx, &list, ctrlclient.InNamespace(r.namespace), ctrlclient.MatchingFields{contract.IndexRevokedClient: string(client)}); err != nil {
		return 0, fmt.Errorf("count revocation records: %w", err)
	}
	return len(list.Items), nil
}

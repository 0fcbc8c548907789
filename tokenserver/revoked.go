package tokenserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Revoked access tokens are recorded in the cluster, one ConfigMap per jti in
// the operator's namespace, until the token expires: every replica sees the
// revocation through its cache. A jti is not secret, and the record holds only
// a digest of it.
const (
	// RevokedPrefix starts the name of every revocation record.
	RevokedPrefix = "twrv-"
	// RevokedExpiresKey holds the RFC 3339 time after which the record can go.
	RevokedExpiresKey = "expires_at"
)

type revokedTokens struct {
	cache     client.Reader
	writer    client.Client
	namespace string
}

func revokedName(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return RevokedPrefix + hex.EncodeToString(sum[:20])
}

// isRevoked reports whether the jti was revoked.
func (r *revokedTokens) isRevoked(ctx context.Context, jti string) (bool, error) {
	var cm corev1.ConfigMap
	err := r.cache.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: revokedName(jti)}, &cm)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", err)
	}
	return true, nil
}

// revoke records jti as revoked until expires.
func (r *revokedTokens) revoke(ctx context.Context, jti string, expires time.Time) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: revokedName(jti),
			Labels: map[string]string{contract.LabelKind: contract.KindRevokedToken, contract.LabelManagedBy: contract.ManagedBy}},
		Data: map[string]string{RevokedExpiresKey: expires.UTC().Format(time.RFC3339)},
	}
	if err := r.writer.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("record revoked token: %w", err)
	}
	return nil
}

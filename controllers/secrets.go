package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// errSecretOwnedElsewhere means the Secret a spec names is controlled by some
// other object; Tokenwarden never takes it over.
var errSecretOwnedElsewhere = errors.New("secret is controlled by another object")

// desiredSecret is what a credential Secret must hold. Data keys listed in
// remove are deleted; keys neither set nor removed are left alone, so an
// adopted Secret keeps whatever else its author put in it.
type desiredSecret struct {
	labels      map[string]string
	annotations map[string]string
	data        map[string]string
	remove      []string
}

// getSecret reads a Secret from the cache; a missing Secret is (nil, nil).
func getSecret(ctx context.Context, c client.Reader, key types.NamespacedName) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := c.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get secret %s: %w", key, err)
	}
	return &s, nil
}

// lookupSecret reads a Secret from the cache, and from the API server when the
// cache does not have it: the cache holds only labeled Secrets, so a Secret to
// adopt, or one whose label was removed by hand, is seen only by a live read.
// The live read happens only when the Secret is missing from the cache, never
// on a steady-state reconcile.
func lookupSecret(ctx context.Context, cached, live client.Reader, key types.NamespacedName) (*corev1.Secret, error) {
	s, err := getSecret(ctx, cached, key)
	if s != nil || err != nil || live == nil {
		return s, err
	}
	return getSecret(ctx, live, key)
}

// applySecret makes the Secret match want, owned by owner. It writes only when
// something differs, so a reconcile with nothing to change makes no API call.
// It reports whether it wrote. existing comes from the cache and is not
// modified.
func applySecret(ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object,
	key types.NamespacedName, existing *corev1.Secret, want desiredSecret) (bool, error) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
	if existing != nil {
		s = existing.DeepCopy()
	}
	if err := controllerutil.SetControllerReference(owner, s, scheme); err != nil {
		var already *controllerutil.AlreadyOwnedError
		if errors.As(err, &already) {
			return false, errSecretOwnedElsewhere
		}
		return false, fmt.Errorf("set owner of secret %s: %w", key, err)
	}
	s.Labels = mergeStrings(s.Labels, want.labels)
	s.Annotations = mergeStrings(s.Annotations, want.annotations)
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range want.data {
		s.Data[k] = []byte(v)
	}
	for _, k := range want.remove {
		delete(s.Data, k)
	}
	if existing == nil {
		s.Type = corev1.SecretTypeOpaque
		if err := c.Create(ctx, s); err != nil {
			return false, fmt.Errorf("create secret %s: %w", key, err)
		}
		return true, nil
	}
	if equality.Semantic.DeepEqual(existing.Labels, s.Labels) &&
		equality.Semantic.DeepEqual(existing.Annotations, s.Annotations) &&
		equality.Semantic.DeepEqual(existing.OwnerReferences, s.OwnerReferences) &&
		equality.Semantic.DeepEqual(existing.Data, s.Data) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(existing, client.MergeFromWithOptimisticLock{})
	if err := c.Patch(ctx, s, patch); err != nil {
		return false, fmt.Errorf("patch secret %s: %w", key, err)
	}
	return true, nil
}

// mergeStrings returns base with add laid over it; a nil result stays nil when
// there is nothing to hold.
func mergeStrings(base, add map[string]string) map[string]string {
	if len(add) == 0 {
		return base
	}
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]string, len(add))
	}
	maps.Copy(out, add)
	return out
}

// templateMetadata returns the template's labels and annotations without keys
// under the reserved tokenwarden.dev/ prefix, laid under Tokenwarden's own.
func templateMetadata(t *v1alpha1.SecretTemplate, own map[string]string) (labels, annotations map[string]string) {
	labels = map[string]string{}
	annotations = map[string]string{}
	if t != nil {
		for k, v := range t.Labels {
			if !strings.HasPrefix(k, contract.ReservedPrefix) {
				labels[k] = v
			}
		}
		for k, v := range t.Annotations {
			if !strings.HasPrefix(k, contract.ReservedPrefix) {
				annotations[k] = v
			}
		}
	}
	maps.Copy(labels, own)
	return labels, annotations
}

// secretString reads a data key of a possibly nil Secret.
func secretString(s *corev1.Secret, key string) string {
	if s == nil {
		return ""
	}
	return string(s.Data[key])
}

package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// secretConflictError means the Secret a spec names exists and is not
// Tokenwarden's to write: another object controls it, or its writer did not
// consent to adoption. Its message says what to do; the caller reports it as
// reason SecretConflict and writes nothing.
type secretConflictError struct{ message string }

func (e *secretConflictError) Error() string { return e.message }

// desiredSecret is what a credential Secret must hold. Data keys listed in
// remove are deleted when Tokenwarden wrote them (see ownedKeys); keys
// neither set nor removed are left alone, so an adopted Secret keeps
// whatever else its author put in it.
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

// checkWritable returns a *secretConflictError when owner may not write the
// existing Secret s, and nil when it may: s does not exist, owner controls
// it, or it is free to adopt. Adoption needs the writer's consent, the
// annotation tokenwarden.dev/adopt-by naming owner ("OAuthClient/<name>"),
// and an Opaque Secret: without that, being allowed to create an OAuthClient
// would be being allowed to overwrite, and through garbage collection
// delete, any Secret of the namespace (a database password, a TLS key).
func checkWritable(s *corev1.Secret, owner client.Object, scheme *runtime.Scheme) error {
	if s == nil || metav1.IsControlledBy(s, owner) {
		return nil
	}
	if metav1.GetControllerOf(s) != nil {
		return &secretConflictError{fmt.Sprintf("Secret %s exists and is controlled by another object; set spec.secretName to another name", s.Name)}
	}
	gvk, err := apiutil.GVKForObject(owner, scheme)
	if err != nil {
		return fmt.Errorf("kind of %s: %w", owner.GetName(), err)
	}
	consent := gvk.Kind + "/" + owner.GetName()
	if s.Annotations[contract.AnnotationAdoptBy] != consent {
		return &secretConflictError{fmt.Sprintf("Secret %s exists and Tokenwarden did not create it; it is adopted only with its writer's consent: "+
			"annotate it %s=%s (its other keys are kept), or set spec.secretName to another name", s.Name, contract.AnnotationAdoptBy, consent)}
	}
	if s.Type != "" && s.Type != corev1.SecretTypeOpaque {
		return &secretConflictError{fmt.Sprintf("Secret %s is of type %s; only an Opaque Secret can be adopted; set spec.secretName to another name", s.Name, s.Type)}
	}
	return nil
}

// ownedKeys returns the data keys of existing that owner wrote, the only
// keys Tokenwarden ever removes. They are recorded in the annotation
// tokenwarden.dev/managed-keys at each write. A Secret owner does not control
// yet (one being adopted) has none: what was there before adoption is its
// writer's, even where Tokenwarden goes on to overwrite it. A Secret owner
// controls without the annotation was written by a version before it, which
// treated every key of its vocabulary as its own: so does this one, once,
// and records the annotation. Keys no longer present drop out.
func ownedKeys(existing *corev1.Secret, owner client.Object, vocabulary []string) sets.Set[string] {
	owned := sets.New[string]()
	if existing == nil || !metav1.IsControlledBy(existing, owner) {
		return owned
	}
	candidates := vocabulary
	if recorded, ok := existing.Annotations[contract.AnnotationManagedKeys]; ok {
		candidates = strings.Split(recorded, ",")
	}
	for _, k := range candidates {
		if _, present := existing.Data[k]; present {
			owned.Insert(k)
		}
	}
	return owned
}

// applySecret makes the Secret match want, owned by owner. It writes only when
// something differs, so a reconcile with nothing to change makes no API call.
// It reports whether it wrote. existing comes from the cache and is not
// modified. A Secret owner may not write (checkWritable) is left untouched.
func applySecret(ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object,
	key types.NamespacedName, existing *corev1.Secret, want desiredSecret) (bool, error) {
	if err := checkWritable(existing, owner, scheme); err != nil {
		return false, err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
	if existing != nil {
		s = existing.DeepCopy()
	}
	if err := controllerutil.SetControllerReference(owner, s, scheme); err != nil {
		return false, fmt.Errorf("set owner of secret %s: %w", key, err)
	}
	s.Labels = mergeStrings(s.Labels, want.labels)
	s.Data, s.Annotations = applyData(s.Data, want, ownedKeys(existing, owner, append(slices.Collect(maps.Keys(want.data)), want.remove...)),
		mergeStrings(s.Annotations, want.annotations))
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

// applyData lays want's data over data, removes the keys of want.remove that
// are owned, and returns the data with annotations recording the keys owned
// afterwards. data and annotations are the caller's copies.
func applyData(data map[string][]byte, want desiredSecret, owned sets.Set[string], annotations map[string]string) (map[string][]byte, map[string]string) {
	if data == nil {
		data = map[string][]byte{}
	}
	for k, v := range want.data {
		data[k] = []byte(v)
		owned.Insert(k)
	}
	for _, k := range want.remove {
		if owned.Has(k) {
			delete(data, k)
			owned.Delete(k)
		}
	}
	return data, mergeStrings(annotations, map[string]string{contract.AnnotationManagedKeys: strings.Join(sets.List(owned), ",")})
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

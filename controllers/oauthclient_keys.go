package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// The ConfigMap a client's privateKeyJWT names is read live (get only): the
// manager caches no tenant ConfigMap, so it is read again every
// clientKeysPoll. A referenced Secret is labeled into the cache and watched.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get

// clientKeysPoll is how often a referenced ConfigMap is read again.
const clientKeysPoll = time.Minute

// clientKeys is what reconcileClientKeys decided.
type clientKeys struct {
	// copied is the JWK Set to keep in the credential Secret
	// (contract.KeyClientJWKS): a referenced Set that parsed; nil removes it.
	copied []byte
	// requeue is when to read a referenced ConfigMap again (0: never).
	requeue time.Duration
}

// reconcileClientKeys sets ClientKeysReady from the JWK Set that
// spec.authentication.privateKeyJWT names. A Set from a referenced Secret or
// ConfigMap is copied into the credential Secret only when it parses, so the
// token server (which reads it there) never sees keys that cannot be used,
// and a missing object removes them. Unusable keys do not make the client
// un-Ready: its other methods still work.
func (r *OAuthClientReconciler) reconcileClientKeys(ctx context.Context, c *v1alpha1.OAuthClient) (clientKeys, error) {
	a := c.Spec.Authentication
	if a == nil || a.PrivateKeyJWT == nil {
		meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionClientKeysReady)
		return clientKeys{}, nil
	}
	p := a.PrivateKeyJWT
	data, where, err := r.readClientKeys(ctx, c, p)
	if err != nil {
		return clientKeys{}, err
	}
	var out clientKeys
	if p.ConfigMapRef != nil {
		out.requeue = clientKeysPoll
	}
	reason, msg := reasonClientKeysReady, "the JWK Set in "+where+" holds usable public keys"
	if data == nil {
		reason, msg = reasonClientKeysMissing, where+" does not exist"
	} else if _, perr := keys.ParseClientJWKS(data); perr != nil {
		reason, msg = reasonClientKeysInvalid, "the JWK Set in "+where+" cannot be used: "+perr.Error()
	} else if p.JWKS == "" {
		out.copied = data
	}
	r.setClientKeysReady(c, reason, msg)
	return out, nil
}

func (r *OAuthClientReconciler) setClientKeysReady(c *v1alpha1.OAuthClient, reason, msg string) {
	prev := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionClientKeysReady)
	if reason != reasonClientKeysReady && (prev == nil || prev.Reason != reason) {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
	}
	status := metav1.ConditionTrue
	if reason != reasonClientKeysReady {
		status = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionClientKeysReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: c.Generation,
	})
}

// readClientKeys returns the JWK Set's JSON (nil when the object or key does
// not exist) and where it was looked for.
func (r *OAuthClientReconciler) readClientKeys(ctx context.Context, c *v1alpha1.OAuthClient, p *v1alpha1.PrivateKeyJWT) ([]byte, string, error) {
	switch {
	case p.SecretRef != nil:
		ref := p.SecretRef
		where := fmt.Sprintf("Secret %s key %q", ref.Name, jwksKeyOf(ref))
		s, err := lookupSecret(ctx, r.Client, r.APIReader, types.NamespacedName{Namespace: c.Namespace, Name: ref.Name})
		if err != nil || s == nil {
			return nil, where, err
		}
		return s.Data[jwksKeyOf(ref)], where, r.labelClientKeys(ctx, c, s)
	case p.ConfigMapRef != nil:
		ref := p.ConfigMapRef
		where := fmt.Sprintf("ConfigMap %s key %q", ref.Name, jwksKeyOf(ref))
		var cm corev1.ConfigMap
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: ref.Name}, &cm)
		if apierrors.IsNotFound(err) {
			return nil, where, nil
		}
		if err != nil {
			return nil, where, fmt.Errorf("get configmap %s/%s: %w", c.Namespace, ref.Name, err)
		}
		if v, ok := cm.Data[jwksKeyOf(ref)]; ok {
			return []byte(v), where, nil
		}
		return nil, where, nil
	}
	return []byte(p.JWKS), "spec.authentication.privateKeyJWT.jwks", nil
}

func jwksKeyOf(ref *v1alpha1.KeyReference) string {
	if ref.Key == "" {
		return v1alpha1.DefaultJWKSKey
	}
	return ref.Key
}

// labelClientKeys adds the label that brings the client's own Secret into
// the cache; nothing else of it changes. A Secret that already carries a
// kind label (another Tokenwarden role) is left as it is.
func (r *OAuthClientReconciler) labelClientKeys(ctx context.Context, c *v1alpha1.OAuthClient, s *corev1.Secret) error {
	if _, ok := s.Labels[contract.LabelKind]; ok {
		return nil
	}
	patched := s.DeepCopy()
	patched.Labels = mergeStrings(patched.Labels, map[string]string{contract.LabelKind: contract.KindClientKeys})
	if err := r.Patch(ctx, patched, client.MergeFrom(s)); err != nil {
		return fmt.Errorf("label secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, eventClientKeysLabeled, "Reconcile",
		"labeled Secret %s with %s=%s so that changes to it take effect", s.Name, contract.LabelKind, contract.KindClientKeys)
	return nil
}

// clientsOfKeySecret maps a labeled Secret to the clients of its namespace
// whose privateKeyJWT names it, so a key change is seen at once.
func (r *OAuthClientReconciler) clientsOfKeySecret(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetLabels()[contract.LabelKind] != contract.KindClientKeys {
		return nil
	}
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range list.Items {
		if a := c.Spec.Authentication; a != nil && a.PrivateKeyJWT != nil && a.PrivateKeyJWT.SecretRef != nil && a.PrivateKeyJWT.SecretRef.Name == obj.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
		}
	}
	return reqs
}

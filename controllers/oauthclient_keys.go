package controllers

import (
	"context"
	"fmt"

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

// The client's own Secret or ConfigMap holding its JWK Set is labeled so the
// manager's cache (which holds only labeled objects) and so the token server
// see it.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;patch

// reconcileClientKeys sets ClientKeysReady from the JWK Set that
// spec.authentication.privateKeyJWT names, labeling a referenced Secret or
// ConfigMap so that the cache holds it. Keys that cannot be used do not make
// the client un-Ready: its other methods still work.
func (r *OAuthClientReconciler) reconcileClientKeys(ctx context.Context, c *v1alpha1.OAuthClient) error {
	a := c.Spec.Authentication
	if a == nil || a.PrivateKeyJWT == nil {
		meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionClientKeysReady)
		return nil
	}
	data, where, err := r.readClientKeys(ctx, c, a.PrivateKeyJWT)
	if err != nil {
		return err
	}
	reason, msg := reasonClientKeysReady, "the JWK Set in "+where+" holds usable public keys"
	if data == nil {
		reason, msg = reasonClientKeysMissing, where+" does not exist"
	} else if _, perr := keys.ParseClientJWKS(data); perr != nil {
		reason, msg = reasonClientKeysInvalid, "the JWK Set in "+where+" cannot be used: "+perr.Error()
	}
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
	return nil
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
		cm, err := r.lookupConfigMap(ctx, types.NamespacedName{Namespace: c.Namespace, Name: ref.Name})
		if err != nil || cm == nil {
			return nil, where, err
		}
		v, ok := cm.Data[jwksKeyOf(ref)]
		if !ok {
			return nil, where, r.labelClientKeys(ctx, c, cm)
		}
		return []byte(v), where, r.labelClientKeys(ctx, c, cm)
	}
	return []byte(p.JWKS), "spec.authentication.privateKeyJWT.jwks", nil
}

func jwksKeyOf(ref *v1alpha1.KeyReference) string {
	if ref.Key == "" {
		return v1alpha1.DefaultJWKSKey
	}
	return ref.Key
}

// lookupConfigMap reads from the cache, then (an object not labeled yet is
// not cached) from the API server; nil when it does not exist.
func (r *OAuthClientReconciler) lookupConfigMap(ctx context.Context, key types.NamespacedName) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := r.Get(ctx, key, &cm)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, &cm)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s: %w", key, err)
	}
	return &cm, nil
}

// labelClientKeys adds the label that brings the client's own object into
// the cache; nothing else of it changes. An object that already carries a
// kind label (another Tokenwarden role) is left as it is.
func (r *OAuthClientReconciler) labelClientKeys(ctx context.Context, c *v1alpha1.OAuthClient, obj client.Object) error {
	if _, ok := obj.GetLabels()[contract.LabelKind]; ok {
		return nil
	}
	patched := obj.DeepCopyObject().(client.Object)
	patched.SetLabels(mergeStrings(patched.GetLabels(), map[string]string{contract.LabelKind: contract.KindClientKeys}))
	if err := r.Patch(ctx, patched, client.MergeFrom(obj)); err != nil {
		return fmt.Errorf("label %s: %w", obj.GetName(), err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, eventClientKeysLabeled, "Reconcile",
		"labeled %s with %s=%s so that changes to it take effect", obj.GetName(), contract.LabelKind, contract.KindClientKeys)
	return nil
}

// clientsOfKeyObject maps a Secret or ConfigMap to the clients of its
// namespace whose privateKeyJWT names it, so a key change is seen at once.
func (r *OAuthClientReconciler) clientsOfKeyObject(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetLabels()[contract.LabelKind] != contract.KindClientKeys {
		return nil
	}
	_, isSecret := obj.(*corev1.Secret)
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range list.Items {
		a := c.Spec.Authentication
		if a == nil || a.PrivateKeyJWT == nil {
			continue
		}
		ref := a.PrivateKeyJWT.ConfigMapRef
		if isSecret {
			ref = a.PrivateKeyJWT.SecretRef
		}
		if ref != nil && ref.Name == obj.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
		}
	}
	return reqs
}

package controllers

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// SigningKeyReconciler keeps the signing keys in their Secret: it creates them
// on first start, rotates them (next → active → retired → removed) and
// publishes the public JWKS in a ConfigMap beside the Secret.
type SigningKeyReconciler struct {
	client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Namespace string
	Settings  keys.Settings
	// Generate makes keys; tests may pass a fast one.
	Generate func(keys.Algorithm, time.Time) (keys.Key, error)
}

// The JWKS ConfigMap is in the operator's namespace ("system" until
// kustomize sets it), the only namespace the manager caches ConfigMaps in.
// +kubebuilder:rbac:groups="",namespace=system,resources=configmaps,verbs=get;list;watch;create;update;delete

// Reconcile plans the key set and writes it with compare-and-swap.
func (r *SigningKeyReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	key := types.NamespacedName{Namespace: r.Namespace, Name: keys.SecretName}
	existing, err := lookupSecret(ctx, r.Client, r.APIReader, key)
	if err != nil {
		return ctrl.Result{}, err
	}
	var stored []keys.Key
	force := keys.Force{}
	if existing != nil {
		if stored, err = keys.Decode(existing.Data[keys.SecretDataKey]); err != nil {
			// Never overwrite keys that cannot be read: a person must look.
			r.Recorder.Eventf(existing, nil, corev1.EventTypeWarning, "InvalidKeys", "Rotate", "the signing keys cannot be decoded; fix or delete the Secret: %v", err)
			return ctrl.Result{}, err
		}
		if v, ok := existing.Annotations[keys.AnnotationRotate]; ok {
			force = keys.Force{Requested: true, Compromised: v == keys.RotateCompromised}
		}
	}
	plan, err := keys.Plan(stored, r.Settings, r.Clock.Now(), force, r.Generate)
	if err != nil {
		return ctrl.Result{}, err
	}
	written, err := r.writeKeys(ctx, key, existing, plan)
	if err != nil {
		return conflictRequeue(ctrl.Result{}, err)
	}
	if err := r.writeJWKS(ctx, written, plan.Keys); err != nil {
		return conflictRequeue(ctrl.Result{}, err)
	}
	for _, c := range plan.Changes {
		r.Recorder.Eventf(written, nil, corev1.EventTypeNormal, "Key"+string(c.Kind), "Rotate", "%s key %s: %s", c.Alg, c.KID, c.Reason)
		keyChanges.WithLabelValues(string(c.Alg), string(c.Kind)).Inc()
	}
	recordKeyMetrics(plan.Keys, r.Clock.Now())
	return ctrl.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// writeKeys creates or updates the key Secret. The update carries the
// resourceVersion that was read: if another replica wrote first, the update
// fails with a conflict and the next reconcile plans from its result, so two
// writers never both add an active key.
func (r *SigningKeyReconciler) writeKeys(ctx context.Context, key types.NamespacedName, existing *corev1.Secret, plan keys.Result) (*corev1.Secret, error) {
	data, err := keys.Encode(plan.Keys)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: contract.ManagedLabels(contract.KindSigningKeys, "")},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{keys.SecretDataKey: data},
		}
		if err := r.Create(ctx, s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, apierrors.NewConflict(corev1.Resource("secrets"), key.Name, err)
			}
			return nil, fmt.Errorf("create signing keys: %w", err)
		}
		return s, nil
	}
	_, forced := existing.Annotations[keys.AnnotationRotate]
	if bytes.Equal(existing.Data[keys.SecretDataKey], data) && !(forced && plan.ForceDone) && existing.Labels[contract.LabelKind] == contract.KindSigningKeys {
		return existing, nil
	}
	s := existing.DeepCopy()
	s.Data = map[string][]byte{keys.SecretDataKey: data}
	s.Labels = mergeStrings(s.Labels, contract.ManagedLabels(contract.KindSigningKeys, ""))
	if plan.ForceDone {
		delete(s.Annotations, keys.AnnotationRotate)
	}
	if err := r.Update(ctx, s); err != nil {
		return nil, fmt.Errorf("update signing keys: %w", err)
	}
	return s, nil
}

// writeJWKS publishes the public keys in a ConfigMap owned by the key Secret.
func (r *SigningKeyReconciler) writeJWKS(ctx context.Context, owner *corev1.Secret, ks []keys.Key) error {
	set, err := keys.NewSet(ks)
	if err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: r.Namespace, Name: keys.ConfigMapName}
	var cm corev1.ConfigMap
	err = r.Get(ctx, key, &cm)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, &cm)
	}
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		cm.Labels = contract.ManagedLabels(contract.KindJWKS, "")
		cm.Data = map[string]string{keys.ConfigMapKey: string(set.JWKS())}
		cm.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, corev1.SchemeGroupVersion.WithKind("Secret"))}
		return r.Create(ctx, &cm)
	case err != nil:
		return fmt.Errorf("get JWKS configmap: %w", err)
	}
	if cm.Data[keys.ConfigMapKey] == string(set.JWKS()) && cm.Labels[contract.LabelKind] == contract.KindJWKS {
		return nil
	}
	updated := cm.DeepCopy()
	updated.Labels = mergeStrings(updated.Labels, contract.ManagedLabels(contract.KindJWKS, ""))
	updated.Data = map[string]string{keys.ConfigMapKey: string(set.JWKS())}
	return r.Update(ctx, updated)
}

// SetupWithManager registers the reconciler. It runs once at start (there may
// be no Secret yet) and whenever the key Secret changes, e.g. when someone
// annotates it to force a rotation.
func (r *SigningKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: keys.SecretName}}
	isKeySecret := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace && (o.GetName() == keys.SecretName || o.GetName() == keys.ConfigMapName)
	})
	kick := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(req)
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("signingkeys").
		For(&corev1.Secret{}, builder.WithPredicates(isKeySecret)).
		Watches(&corev1.ConfigMap{}, handlerFor(req), builder.WithPredicates(isKeySecret)).
		WatchesRawSource(kick).
		Complete(r)
}

// Key metrics.
var (
	keyChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenwarden_signing_key_changes_total", Help: "Signing key lifecycle changes by algorithm and kind (Generated, Activated, Retired, Removed).",
	}, []string{"alg", "change"})
	keyAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tokenwarden_signing_key_age_seconds", Help: "Age of the newest key per algorithm and state.",
	}, []string{"alg", "state"})
	keysPublished = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tokenwarden_signing_keys_published", Help: "Keys in the public JWKS.",
	})
)

func recordKeyMetrics(ks []keys.Key, now time.Time) {
	keysPublished.Set(float64(len(ks)))
	keyAge.Reset()
	for _, k := range ks {
		keyAge.WithLabelValues(string(k.Algorithm), string(k.State)).Set(now.Sub(k.CreatedAt).Seconds())
	}
}

package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// Reasons of OAuthResource Ready and of the OAuthClient AudiencesGranted
// condition, with their Events.
const (
	reasonAudienceConflict = "AudienceConflict"
	reasonInvalidSelector  = "InvalidNamespaceSelector"
	reasonAudiencesGranted = "Granted"
	reasonAudienceRefused  = "AudienceRefused"
	eventAudienceClaimed   = "AudienceClaimed"
)

// OAuthResourceReconciler gives each OAuthResource the audience it asks for,
// unless another holds it: the first holder keeps an audience (the rule
// client IDs follow, see takesPrecedence), and the next claimant takes it
// over when the holder goes. Only a holder grants tokens for an audience.
type OAuthResourceReconciler struct {
	client.Client
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthresources,verbs=list;watch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthresources/status,verbs=patch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients,verbs=list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile claims one resource's audience and reports it in status.
func (r *OAuthResourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var res v1alpha1.OAuthResource
	if err := r.Get(ctx, req.NamespacedName, &res); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !res.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := res.DeepCopy()
	err := r.reconcile(ctx, &res)
	if perr := patchStatus(ctx, r.Client, before, &res); perr != nil && err == nil {
		err = perr
	}
	return conflictRequeue(ctrl.Result{}, err)
}

func (r *OAuthResourceReconciler) reconcile(ctx context.Context, res *v1alpha1.OAuthResource) error {
	prevReason := readyReason(res.Status.Conditions)
	aud := res.Spec.Audience
	holder, err := r.audienceHolder(ctx, res, aud)
	if err != nil {
		return err
	}
	if holder != "" {
		msg := fmt.Sprintf("audience %q is already held by %s; choose another spec.audience", aud, holder)
		res.Status.Audience = ""
		warnOnce(r.Recorder, res, prevReason, reasonAudienceConflict, msg)
		setReady(&res.Status.Conditions, res.Generation, false, reasonAudienceConflict, msg)
		return nil
	}
	if res.Status.Audience != aud {
		r.Recorder.Eventf(res, nil, corev1.EventTypeNormal, eventAudienceClaimed, "Reconcile", "holds the audience %q", aud)
	}
	res.Status.Audience = aud
	res.Status.ObservedGeneration = res.Generation
	if msg := invalidSelectors(res); msg != "" {
		// It keeps its audience: a typo in one grant must not hand the
		// audience to the next claimant. The broken grant matches nothing.
		warnOnce(r.Recorder, res, prevReason, reasonInvalidSelector, msg)
		setReady(&res.Status.Conditions, res.Generation, false, reasonInvalidSelector, msg)
		return nil
	}
	setReady(&res.Status.Conditions, res.Generation, true, reasonReady, fmt.Sprintf("holds the audience %q", aud))
	return nil
}

// audienceHolder names what keeps res from holding aud: an OAuthClient of
// another namespace that holds it as its client_id (a client's own tokens carry its
// client_id as aud, so a resource elsewhere holding it could grant tokens
// that pass for that client's), or an OAuthResource that may hold it and
// takes precedence. It returns "" when res may hold aud.
func (r *OAuthResourceReconciler) audienceHolder(ctx context.Context, res *v1alpha1.OAuthResource, aud string) (string, error) {
	var clients v1alpha1.OAuthClientList
	if err := r.List(ctx, &clients, client.MatchingFields{contract.IndexClientID: aud}); err != nil {
		return "", fmt.Errorf("list clients with the audience as client_id: %w", err)
	}
	// blocked reports whether a client of another namespace than ns has
	// aud as its client_id, naming it.
	blocked := func(ns string) string {
		for _, c := range clients.Items {
			if c.Namespace != ns && c.DeletionTimestamp.IsZero() {
				return "OAuthClient " + c.Namespace + "/" + c.Name + " as its client_id"
			}
		}
		return ""
	}
	if by := blocked(res.Namespace); by != "" {
		return by, nil
	}
	var list v1alpha1.OAuthResourceList
	if err := r.List(ctx, &list, client.MatchingFields{contract.IndexWantedAudience: aud}); err != nil {
		return "", fmt.Errorf("list resources wanting audience: %w", err)
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != res.UID && o.DeletionTimestamp.IsZero() && blocked(o.Namespace) == "" &&
			takesPrecedence(o, o.Status.Audience == aud, res, res.Status.Audience == aud) {
			return "OAuthResource " + o.Namespace + "/" + o.Name, nil
		}
	}
	return "", nil
}

// invalidSelectors describes the grants whose namespaceSelector does not
// parse, or returns "".
func invalidSelectors(res *v1alpha1.OAuthResource) string {
	for i, g := range res.Spec.Grants {
		if g.NamespaceSelector == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(g.NamespaceSelector); err != nil {
			return fmt.Sprintf("spec.grants[%d].namespaceSelector is invalid and grants nothing: %v", i, err)
		}
	}
	return ""
}

// SetupWithManager registers the reconciler. It watches other resources, so
// an audience freed by a deletion or a spec change goes to the next claimant
// at once, and clients, whose client_id a resource of another namespace may
// not hold.
func (r *OAuthResourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.OAuthResource{}).
		Watches(&v1alpha1.OAuthResource{}, handler.EnqueueRequestsFromMapFunc(r.sameAudience)).
		Watches(&v1alpha1.OAuthClient{}, handler.EnqueueRequestsFromMapFunc(r.clientIDAudience)).
		Named("oauthresource").
		Complete(r)
}

// sameAudience maps a resource to the other resources that want the
// audience it asks for or held.
func (r *OAuthResourceReconciler) sameAudience(ctx context.Context, o client.Object) []reconcile.Request {
	res := o.(*v1alpha1.OAuthResource)
	return r.wanting(ctx, res.UID, res.Spec.Audience, res.Status.Audience)
}

// clientIDAudience maps a client to the resources that want its client_id
// as their audience.
func (r *OAuthResourceReconciler) clientIDAudience(ctx context.Context, o client.Object) []reconcile.Request {
	c := o.(*v1alpha1.OAuthClient)
	return r.wanting(ctx, "", c.EffectiveClientID(), c.Status.ClientID)
}

// wanting lists the resources (other than uid) that want one of audiences.
func (r *OAuthResourceReconciler) wanting(ctx context.Context, uid types.UID, audiences ...string) []reconcile.Request {
	var reqs []reconcile.Request
	for _, aud := range audiences {
		if aud == "" {
			continue
		}
		var list v1alpha1.OAuthResourceList
		if err := r.List(ctx, &list, client.MatchingFields{contract.IndexWantedAudience: aud}); err != nil {
			continue
		}
		for i := range list.Items {
			if list.Items[i].UID != uid {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
	}
	return reqs
}

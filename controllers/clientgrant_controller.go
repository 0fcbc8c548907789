package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/grants"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// ClientGrantReconciler shows, in each OAuthClient's status.audiences and
// AudiencesGranted condition, which of its spec.audiences the resources
// holding them grant, and with which scopes. It writes nothing else: the
// decision is internal/grants', over the same Directory the token server
// reads, so status and token time agree.
type ClientGrantReconciler struct {
	client.Client
	// Directory finds the resource holding an audience and the labels of a
	// namespace: the token server's, over the manager's cache.
	Directory store.Directory
	Recorder  events.EventRecorder
}

// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients,verbs=list;watch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients/status,verbs=patch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthresources,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list;watch

// Reconcile decides one client's audiences and patches them into status.
func (r *ClientGrantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c v1alpha1.OAuthClient
	if err := r.Get(ctx, req.NamespacedName, &c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := c.DeepCopy()
	if err := r.reconcile(ctx, &c); err != nil {
		return ctrl.Result{}, err
	}
	// The patch carries status.audiences and the conditions only, under
	// an optimistic lock: the conditions list is shared with the other
	// writers of client status (see patchSharedStatus).
	return conflictRequeue(ctrl.Result{}, patchSharedStatus(ctx, r.Client, before, &c))
}

func (r *ClientGrantReconciler) reconcile(ctx context.Context, c *v1alpha1.OAuthClient) error {
	nsLabels, err := r.Directory.NamespaceLabels(ctx, c.Namespace)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("labels of namespace %s: %w", c.Namespace, err)
	}
	holders := map[string]*v1alpha1.OAuthResource{}
	for _, aud := range c.Spec.Audiences {
		res, err := r.Directory.ResourceByAudience(ctx, aud)
		switch {
		case err == nil:
			holders[aud] = res
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("resource holding %q: %w", aud, err)
		}
	}
	c.Status.Audiences = grants.ForClient(c, nsLabels, holders)
	ok, msg := grants.Summary(c.Status.Audiences)
	cond := metav1.Condition{Type: v1alpha1.ConditionAudiencesGranted, Status: metav1.ConditionTrue,
		Reason: reasonAudiencesGranted, Message: msg, ObservedGeneration: c.Generation}
	if !ok {
		cond.Status, cond.Reason = metav1.ConditionFalse, reasonAudienceRefused
		if prev := meta.FindStatusCondition(c.Status.Conditions, cond.Type); prev == nil || prev.Message != msg {
			r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, reasonAudienceRefused, "Reconcile", "%s", msg)
		}
	}
	meta.SetStatusCondition(&c.Status.Conditions, cond)
	return nil
}

// SetupWithManager registers the reconciler. A client is decided again when
// its spec or the client_id it holds changes (its own is always granted), when a resource holding or asking for one of its
// audiences changes (grants given or withdrawn, an audience claimed or
// freed), and when its namespace's labels change (namespace selectors).
func (r *ClientGrantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.OAuthClient{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, clientIDChanged()))).
		Watches(&v1alpha1.OAuthResource{}, handler.EnqueueRequestsFromMapFunc(r.askingClients)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.namespaceClients),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Named("clientgrant").
		Complete(r)
}

// askingClients maps a resource to the clients, of any namespace, asking for
// the audience it asks for or held.
func (r *ClientGrantReconciler) askingClients(ctx context.Context, o client.Object) []reconcile.Request {
	res := o.(*v1alpha1.OAuthResource)
	audiences := []string{res.Spec.Audience}
	if res.Status.Audience != "" && res.Status.Audience != res.Spec.Audience {
		audiences = append(audiences, res.Status.Audience)
	}
	var reqs []reconcile.Request
	for _, aud := range audiences {
		var list v1alpha1.OAuthClientList
		if err := r.List(ctx, &list, client.MatchingFields{contract.IndexClientAudience: aud}); err != nil {
			continue
		}
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// namespaceClients maps a namespace to its clients that ask for audiences.
func (r *ClientGrantReconciler) namespaceClients(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if len(list.Items[i].Spec.Audiences) > 0 {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// clientIDChanged passes updates that change the client_id a client holds;
// other status changes (the other writers of client status) do not matter
// here.
func clientIDChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e ctrlevent.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*v1alpha1.OAuthClient)
		n, okNew := e.ObjectNew.(*v1alpha1.OAuthClient)
		return okOld && okNew && o.Status.ClientID != n.Status.ClientID
	}}
}

package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// clientIDProblem returns the Ready reason and message that keep c from
// holding id, or "" when it may hold it: the namespace may not use the id
// (ClientIDNotAllowed), or the clash rule gives it to another client or to
// nobody (ClientIDConflict). It keeps c's ClientIDWaiting condition, the
// clash rule's memory that c yielded the id to another namespace.
func (r *OAuthClientReconciler) clientIDProblem(ctx context.Context, c *v1alpha1.OAuthClient, id string) (reason, msg string, err error) {
	refusal, err := r.clientIDRefusalFor(ctx, c.Namespace, id)
	if err != nil || refusal != "" {
		return reasonClientIDNotAllowed, refusal, err
	}
	if !yielded(c) {
		meta.RemoveStatusCondition(&c.Status.Conditions, conditionClientIDWaiting)
	}
	v, err := r.clientIDVerdict(ctx, c, id)
	if err != nil {
		return "", "", err
	}
	if msg = conflictMessage(c, id, v); msg == "" {
		return "", "", nil
	}
	return reasonClientIDConflict, msg, nil
}

// conflictMessage explains a verdict, and records ClientIDWaiting when c
// yields the id to another namespace. It returns "" for a client that may
// hold the id.
func conflictMessage(c *v1alpha1.OAuthClient, id string, v idVerdict) string {
	const never = "a client_id never passes to another namespace by itself"
	switch {
	case v.heldElsewhere:
		meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: conditionClientIDWaiting, Status: metav1.ConditionTrue,
			Reason: reasonHeldInAnotherNamespace, ObservedGeneration: c.Generation,
			Message: fmt.Sprintf("waited for client_id %q while OAuthClient %s of another namespace held it", id, v.blockedBy)})
		return fmt.Sprintf("client_id %q is already used by OAuthClient %s of another namespace, and %s: "+
			"this client will not take it over when it is freed; choose another spec.clientID", id, v.blockedBy, never)
	case v.blockedBy != "":
		return fmt.Sprintf("client_id %q is already used by OAuthClient %s; choose another spec.clientID", id, v.blockedBy)
	case v.yielded:
		return fmt.Sprintf("this client waited for client_id %q while another namespace held it, and %s: "+
			"it does not take it, even once it is free; edit or re-create this client to claim it again", id, never)
	case len(v.contested) > 0:
		return fmt.Sprintf("client_id %q is free but wanted by OAuthClients of several namespaces (%s), and %s: "+
			"none gets it until the platform team resolves the clash by removing or renaming the claims of all namespaces but one",
			id, strings.Join(v.contested, ", "), never)
	}
	meta.RemoveStatusCondition(&c.Status.Conditions, conditionClientIDWaiting)
	return ""
}

// yielded reports whether c waited for its id while another namespace held
// it, at its current generation: an edit of the spec, or a new object, ends
// it.
func yielded(c *v1alpha1.OAuthClient) bool {
	cond := meta.FindStatusCondition(c.Status.Conditions, conditionClientIDWaiting)
	return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == c.Generation
}

// clientIDVerdict applies the clash rule (decideClientID) to c and the other
// live clients wanting id. A claimant whose namespace may not use the id
// does not count, so a tenant cannot block an id by merely asking for it; a
// holder counts until it has released the id itself, so two clients never
// hold one id at once.
func (r *OAuthClientReconciler) clientIDVerdict(ctx context.Context, c *v1alpha1.OAuthClient, id string) (idVerdict, error) {
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list, client.MatchingFields{contract.IndexWantedClientID: id}); err != nil {
		return idVerdict{}, fmt.Errorf("list clients wanting client_id: %w", err)
	}
	var others []idClaim
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID == c.UID || !o.DeletionTimestamp.IsZero() {
			continue
		}
		holds := o.Status.ClientID == id
		if !holds {
			refusal, err := r.clientIDRefusalFor(ctx, o.Namespace, id)
			if err != nil {
				return idVerdict{}, err
			}
			if refusal != "" {
				continue
			}
		}
		others = append(others, idClaim{obj: o, holds: holds, yielded: yielded(o)})
	}
	return decideClientID(idClaim{obj: c, holds: c.Status.ClientID == id, yielded: yielded(c)}, others), nil
}

// clientIDRefusalFor reads what clientIDPolicy needs from the cached Namespaces
// and returns why ns may not use id, or "". An id in the namespace's own
// space needs no read.
func (r *OAuthClientReconciler) clientIDRefusalFor(ctx context.Context, ns, id string) (string, error) {
	if strings.HasPrefix(id, ns+".") {
		return "", nil
	}
	var p clientIDPolicy
	own, err := r.namespace(ctx, ns)
	if err != nil {
		return "", err
	}
	p.unprefixedAllowed = own != nil && own.Annotations[contract.AnnotationAllowUnprefixedClientIDs] == "true"
	if prefix, _, dotted := strings.Cut(id, "."); p.unprefixedAllowed && dotted {
		other, err := r.namespace(ctx, prefix)
		if err != nil {
			return "", err
		}
		p.prefixNamespaceExists = other != nil
	}
	return clientIDRefusal(id, ns, p), nil
}

// namespace reads a Namespace from the cache; a missing one is (nil, nil),
// which grants nothing.
func (r *OAuthClientReconciler) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	var ns corev1.Namespace
	if err := r.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return &ns, nil
}

// sameClientID maps a client to the other clients that want its client_id,
// so a client_id freed by a deletion, a spec change or a refusal is decided
// again at once.
func (r *OAuthClientReconciler) sameClientID(ctx context.Context, o client.Object) []reconcile.Request {
	c := o.(*v1alpha1.OAuthClient)
	var reqs []reconcile.Request
	for _, id := range []string{c.EffectiveClientID(), c.Status.ClientID} {
		if id == "" {
			continue
		}
		var list v1alpha1.OAuthClientList
		if err := r.List(ctx, &list, client.MatchingFields{contract.IndexWantedClientID: id}); err != nil {
			continue
		}
		for _, other := range list.Items {
			if other.UID != c.UID {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&other)})
			}
		}
	}
	return reqs
}

// clientsOfNamespacePolicy maps a Namespace to the clients whose permission
// to use their spec.clientID it decides: its own clients with a custom id
// (the annotation), and clients of other namespaces whose id begins with its
// name and a dot (its existence).
func (r *OAuthClientReconciler) clientsOfNamespacePolicy(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		c := &list.Items[i]
		if c.Spec.ClientID != "" && (c.Namespace == o.GetName() || strings.HasPrefix(c.Spec.ClientID, o.GetName()+".")) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(c)})
		}
	}
	return reqs
}

// clientIDPolicyChanged passes the Namespace events that can change what
// clientIDRefusal says: creation, deletion, and a change of the annotation.
func clientIDPolicyChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e ctrlevent.UpdateEvent) bool {
			return e.ObjectOld.GetAnnotations()[contract.AnnotationAllowUnprefixedClientIDs] !=
				e.ObjectNew.GetAnnotations()[contract.AnnotationAllowUnprefixedClientIDs]
		},
		GenericFunc: func(ctrlevent.GenericEvent) bool { return false },
	}
}

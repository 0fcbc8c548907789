package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// Alias paths a client claims as its default (spec.compatibility.
// defaultForPaths): the token server answers a request on such a path that
// names no client as the client holding it (status.compatibility). Only
// paths the platform team made claimable for the client's namespace can be
// held, and the first holder keeps a path as the first holder of a
// client_id does.

// pathClaim is one OAuthClient wanting a path, as decideDefaultPath sees it.
type pathClaim struct {
	obj   client.Object
	holds bool
}

// decideDefaultPath returns the client that keeps self from holding a path,
// or "" when self may hold it. A holder keeps the path against any claimant;
// of two holders (a claim made while the other's was not yet in the cache)
// the older keeps it. A path nobody holds goes to the oldest claimant, so
// two claims made at once do not both take it.
func decideDefaultPath(self pathClaim, others []pathClaim) string {
	var oldest client.Object
	for _, o := range others {
		if o.holds && takesPrecedence(o.obj, true, self.obj, self.holds) {
			return nameOf(o.obj)
		}
		if !self.holds && !o.holds && olderThan(o.obj, self.obj) && (oldest == nil || olderThan(o.obj, oldest)) {
			oldest = o.obj
		}
	}
	if oldest != nil {
		return nameOf(oldest)
	}
	return ""
}

// reconcileDefaultPaths decides which wanted paths c holds, records them in
// status with the DefaultPaths condition, and sends a Warning Event when a
// path is refused. A client without a client_id holds nothing: the token
// server could not answer as it.
func (r *OAuthClientReconciler) reconcileDefaultPaths(ctx context.Context, c *v1alpha1.OAuthClient) error {
	wanted := c.WantedDefaultPaths()
	if len(wanted) == 0 {
		c.Status.Compatibility = nil
		meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionDefaultPaths)
		return nil
	}
	var held, refused []string
	reason := reasonDefaultPathsHeld
	for _, p := range wanted {
		why, err := r.defaultPathRefusal(ctx, c, p)
		if err != nil {
			return err
		}
		if why.reason != "" {
			refused, reason = append(refused, why.message), why.reason
			continue
		}
		held = append(held, p)
	}
	c.Status.Compatibility = nil
	if len(held) > 0 {
		c.Status.Compatibility = &v1alpha1.CompatibilityStatus{DefaultForPaths: held}
	}
	cond := metav1.Condition{Type: v1alpha1.ConditionDefaultPaths, Status: metav1.ConditionTrue, Reason: reason,
		ObservedGeneration: c.Generation, Message: "holds " + strings.Join(held, ", ")}
	if len(refused) > 0 {
		cond.Status, cond.Message = metav1.ConditionFalse, strings.Join(refused, "; ")
		if prev := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionDefaultPaths); prev == nil || prev.Message != cond.Message {
			r.Recorder.Eventf(c, nil, "Warning", reason, "Reconcile", "%s", cond.Message)
		}
	}
	meta.SetStatusCondition(&c.Status.Conditions, cond)
	return nil
}

// pathRefusal is why a client may not hold a path.
type pathRefusal struct{ reason, message string }

func (r *OAuthClientReconciler) defaultPathRefusal(ctx context.Context, c *v1alpha1.OAuthClient, path string) (pathRefusal, error) {
	switch {
	case c.Status.ClientID == "":
		return pathRefusal{reasonDefaultPathNotAllowed, fmt.Sprintf("%s: the client is not Ready", path)}, nil
	case !r.mayClaim(c.Namespace, path):
		return pathRefusal{reasonDefaultPathNotAllowed, fmt.Sprintf("%s is not a token path alias that the platform team made claimable for namespace %s (--token-path-alias %s;claimable=%s)",
			path, c.Namespace, path, c.Namespace)}, nil
	}
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list, client.MatchingFields{contract.IndexWantedDefaultPath: path}); err != nil {
		return pathRefusal{}, fmt.Errorf("list clients wanting default path: %w", err)
	}
	var others []pathClaim
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID == c.UID || !o.DeletionTimestamp.IsZero() || o.Status.ClientID == "" || !r.mayClaim(o.Namespace, path) {
			continue
		}
		others = append(others, pathClaim{obj: o, holds: slices.Contains(o.HeldDefaultPaths(), path)})
	}
	if by := decideDefaultPath(pathClaim{obj: c, holds: slices.Contains(c.HeldDefaultPaths(), path)}, others); by != "" {
		return pathRefusal{reasonDefaultPathConflict, fmt.Sprintf("%s is held by OAuthClient %s", path, by)}, nil
	}
	return pathRefusal{}, nil
}

// mayClaim reports whether the platform team's --token-path-alias list lets
// a client of namespace ns claim path.
func (r *OAuthClientReconciler) mayClaim(ns, path string) bool {
	for _, p := range r.TokenPaths {
		if p.Path == path {
			return p.MayClaim(ns)
		}
	}
	return false
}

// samePaths maps a client to the other clients wanting a path it wants or
// holds, so a path freed by a deletion or an edit is decided again at once.
func (r *OAuthClientReconciler) samePaths(ctx context.Context, o client.Object) []reconcile.Request {
	c := o.(*v1alpha1.OAuthClient)
	var reqs []reconcile.Request
	for _, p := range append(slices.Clone(c.WantedDefaultPaths()), c.HeldDefaultPaths()...) {
		var list v1alpha1.OAuthClientList
		if err := r.List(ctx, &list, client.MatchingFields{contract.IndexWantedDefaultPath: p}); err != nil {
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

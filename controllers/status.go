package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// setReady records the Ready condition. LastTransitionTime only moves when the
// status flips, so an unchanged outcome leaves the status byte-identical and
// the reconcile makes no write.
func setReady(conds *[]metav1.Condition, generation int64, ok bool, reason, message string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
}

// readyReason returns the current Ready reason, for emitting an Event only when
// it changes rather than on every reconcile.
func readyReason(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// patchStatus writes obj's status when it differs from before's. The merge
// patch itself is the comparison: an empty patch means nothing to write, which
// also ignores differences that do not survive serialization (time zones,
// nil versus empty lists).
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object) error {
	patch := client.MergeFrom(before)
	data, err := patch.Data(obj)
	if err != nil {
		return fmt.Errorf("compute status patch: %w", err)
	}
	if string(data) == "{}" {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("patch status of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// patchSharedStatus is patchStatus for an OAuthClient, whose status two
// reconcilers write: OAuthClientReconciler (client_id, credential Secret,
// rotation times, Ready) and TokenSecretReconciler (tokenSecrets,
// TokensReady). Each diffs against the DeepCopy it took before changing
// anything, so the patch carries only the fields it changed and never writes
// the other's scalar fields. Lists are another matter: a JSON merge patch
// replaces a list whole (RFC 7386 §2), and both write entries of
// status.conditions, so a patch computed from a stale read would put back the
// other reconciler's old condition. The patch therefore carries the
// resourceVersion it was computed from: when the object changed since the
// read, the API server refuses it with a conflict, and conflictRequeue retries
// on a fresh read.
func patchSharedStatus(ctx context.Context, c client.Client, before, obj client.Object) error {
	data, err := client.MergeFrom(before).Data(obj)
	if err != nil {
		return fmt.Errorf("compute status patch: %w", err)
	}
	if string(data) == "{}" {
		return nil
	}
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("patch status of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// conflictRequeue turns an optimistic-lock conflict into a quiet, prompt retry:
// conflicts are normal when the cache is a step behind, not errors to log.
func conflictRequeue(res ctrlResult, err error) (ctrlResult, error) {
	if err != nil && apierrors.IsConflict(err) {
		return ctrlResult{RequeueAfter: 200 * time.Millisecond}, nil
	}
	return res, err
}

// warnOnce emits a Warning Event when the Ready reason changes to reason, so a
// persistent problem is reported once, not at every resync.
func warnOnce(rec events.EventRecorder, obj runtime.Object, prevReason, reason, note string) {
	if prevReason != reason {
		rec.Eventf(obj, nil, "Warning", reason, "Reconcile", "%s", note)
	}
}

// ctrlResult is reconcile.Result under a short name.
type ctrlResult = reconcile.Result

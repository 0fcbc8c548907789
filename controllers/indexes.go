package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// SetupIndexes registers the field indexes on the manager's cache. Call it once
// before the manager starts.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	return contract.SetupIndexes(ctx, mgr.GetFieldIndexer())
}

// takesPrecedence decides which of two objects claiming the same name keeps
// it: the one already holding it in status (so a working client or user never
// loses its name to a newcomer, whatever the clock granularity), else the
// first created, then the lower UID, so every replica agrees.
func takesPrecedence(a client.Object, aHolds bool, b client.Object, bHolds bool) bool {
	if aHolds != bHolds {
		return aHolds
	}
	return olderThan(a, b)
}

// olderThan orders two objects by creation, then by UID. Creation timestamps
// have one-second resolution, hence the UID.
func olderThan(a, b client.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.GetUID() < b.GetUID()
}

// handlerFor enqueues one fixed request for any event.
func handlerFor(req reconcile.Request) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{req}
	})
}

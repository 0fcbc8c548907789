package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// SetupIndexes registers the field indexes on the manager's cache. Call it once
// before the manager starts.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	indexes := []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&v1alpha1.OAuthClient{}, contract.IndexClientID, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthClient).Status.ClientID)
		}},
		{&v1alpha1.OAuthClient{}, contract.IndexWantedClientID, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthClient).EffectiveClientID())
		}},
		{&v1alpha1.OAuthUser{}, contract.IndexUsername, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthUser).Status.Username)
		}},
		{&v1alpha1.OAuthUser{}, contract.IndexWantedUsername, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthUser).EffectiveUsername())
		}},
		{&v1alpha1.OAuthUser{}, contract.IndexUserUID, func(o client.Object) []string {
			return nonEmpty(string(o.GetUID()))
		}},
		{&v1alpha1.OAuthUser{}, contract.IndexPasswordSecret, func(o client.Object) []string {
			if ref := o.(*v1alpha1.OAuthUser).Spec.Password.SecretRef; ref != nil {
				return nonEmpty(ref.Name)
			}
			return nil
		}},
	}
	for _, i := range indexes {
		if err := idx.IndexField(ctx, i.obj, i.field, i.fn); err != nil {
			return fmt.Errorf("index %s: %w", i.field, err)
		}
	}
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
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

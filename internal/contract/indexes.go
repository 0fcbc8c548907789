package contract

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// SetupIndexes registers the Index* field indexes on a cache. The controllers
// and the token server's directory both read through them, so they are
// registered once, here, before the cache starts.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	indexes := []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&v1alpha1.OAuthClient{}, IndexClientID, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthClient).Status.ClientID)
		}},
		{&v1alpha1.OAuthClient{}, IndexWantedClientID, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthClient).EffectiveClientID())
		}},
		{&v1alpha1.OAuthUser{}, IndexUsername, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthUser).Status.Username)
		}},
		{&v1alpha1.OAuthUser{}, IndexWantedUsername, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthUser).EffectiveUsername())
		}},
		{&v1alpha1.OAuthUser{}, IndexUserUID, func(o client.Object) []string {
			return nonEmpty(string(o.GetUID()))
		}},
		{&v1alpha1.OAuthUser{}, IndexPasswordSecret, func(o client.Object) []string {
			if ref := o.(*v1alpha1.OAuthUser).Spec.Password.SecretRef; ref != nil {
				return nonEmpty(ref.Name)
			}
			return nil
		}},
		{&v1alpha1.OAuthResource{}, IndexResourceAudience, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthResource).Status.Audience)
		}},
		{&v1alpha1.OAuthResource{}, IndexWantedAudience, func(o client.Object) []string {
			return nonEmpty(o.(*v1alpha1.OAuthResource).Spec.Audience)
		}},
		{&v1alpha1.OAuthClient{}, IndexClientAudience, func(o client.Object) []string {
			return o.(*v1alpha1.OAuthClient).Spec.Audiences
		}},
		{&v1alpha1.OAuthClient{}, IndexDefaultPath, func(o client.Object) []string {
			return o.(*v1alpha1.OAuthClient).HeldDefaultPaths()
		}},
		{&v1alpha1.OAuthClient{}, IndexWantedDefaultPath, func(o client.Object) []string {
			return o.(*v1alpha1.OAuthClient).WantedDefaultPaths()
		}},
		{&corev1.Secret{}, IndexRecordOwner, recordOwnerIndex},
		{&corev1.ConfigMap{}, IndexRevokedClient, revokedClientIndex},
	}
	for _, i := range indexes {
		if err := indexer.IndexField(ctx, i.obj, i.field, i.fn); err != nil {
			return fmt.Errorf("index %s: %w", i.field, err)
		}
	}
	return nil
}

// nonEmpty indexes s, or nothing when it is empty, so objects without a
// value are never found under "".
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

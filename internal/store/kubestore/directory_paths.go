package kubestore

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// ClientByDefaultPath returns the one client whose status holds path as its
// default, through contract.IndexDefaultPath. Two holders (a state the
// controller resolves) find neither, as two holders of one client_id do.
func (d *directory) ClientByDefaultPath(ctx context.Context, path string) (*store.Client, error) {
	if path == "" {
		return nil, store.ErrNotFound
	}
	var list v1alpha1.OAuthClientList
	if err := d.reader.List(ctx, &list, client.MatchingFields{contract.IndexDefaultPath: path}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list clients holding a default path: %w", err)
	}
	if len(list.Items) != 1 || list.Items[0].Status.ClientID == "" || !list.Items[0].DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	return d.client(ctx, &list.Items[0])
}

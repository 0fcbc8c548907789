package memstore

import (
	"context"
	"slices"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// ClientByDefaultPath returns the one client whose status holds path as its
// default; two holders find neither.
func (d *Directory) ClientByDefaultPath(_ context.Context, path string) (*store.Client, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var found []store.Client
	for _, c := range d.clients {
		if path != "" && c.Object.Status.ClientID != "" && slices.Contains(c.Object.HeldDefaultPaths(), path) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		return nil, store.ErrNotFound
	}
	return clientCopy(found[0])
}

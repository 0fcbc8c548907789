package kubestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// availability is o with its live reader and writer marking every error
// that says the API server could not be reached or could not answer as
// store.ErrUnavailable, so that the token server answers 503
// temporarily_unavailable (RFC 6749 §5.2) instead of server_error while the
// API server is down, and a refresh is retried rather than given up. The
// cache never fails this way: it answers from memory.
func (o Options) availability() Options {
	if o.Live != nil {
		o.Live = unavailableReader{o.Live}
	}
	if o.Writer != nil {
		o.Writer = unavailableClient{o.Writer}
	}
	return o
}

// unreachable marks err as store.ErrUnavailable when it means the request
// may succeed later without anything changing: the connection failed or
// broke, timed out, or the API server answered 429, 500, 503 or 504.
func unreachable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var netErr net.Error
	switch {
	case apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err),
		apierrors.IsServerTimeout(err), apierrors.IsInternalError(err),
		utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &netErr):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

type unavailableReader struct{ client.Reader }

func (r unavailableReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return unreachable(r.Reader.Get(ctx, key, obj, opts...))
}

func (r unavailableReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return unreachable(r.Reader.List(ctx, list, opts...))
}

// unavailableClient marks the errors of the writes the stores make.
type unavailableClient struct{ client.Client }

func (c unavailableClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	return unreachable(c.Client.Create(ctx, obj, opts...))
}

func (c unavailableClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	return unreachable(c.Client.Update(ctx, obj, opts...))
}

func (c unavailableClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	return unreachable(c.Client.Delete(ctx, obj, opts...))
}

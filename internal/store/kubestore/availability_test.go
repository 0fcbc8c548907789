package kubestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// TestUnreachable: what says "the API server could not answer" becomes
// store.ErrUnavailable (the token server answers 503 and the client
// retries); what is a decision of the API server (not found, conflict,
// forbidden, invalid) stays as it is.
func TestUnreachable(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("put: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"EOF mid-request", fmt.Errorf("put: %w", io.ErrUnexpectedEOF), true},
		{"client timeout", context.DeadlineExceeded, true},
		{"503", apierrors.NewServiceUnavailable("etcd is down"), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"504", apierrors.NewTimeoutError("timeout", 1), true},
		{"500", apierrors.NewInternalError(errors.New("boom")), true},
		{"not found", apierrors.NewNotFound(gr, "x"), false},
		{"conflict", apierrors.NewConflict(gr, "x", errors.New("changed")), false},
		{"forbidden", apierrors.NewForbidden(gr, "x", errors.New("rbac")), false},
		{"invalid", apierrors.NewBadRequest("bad"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unreachable(tt.err)
			if errors.Is(got, store.ErrUnavailable) != tt.unavailable {
				t.Fatalf("unreachable(%v) = %v, unavailable %v", tt.err, got, !tt.unavailable)
			}
			if tt.err != nil && !errors.Is(got, tt.err) {
				t.Fatalf("the cause is lost: %v", got)
			}
			if apierrors.IsConflict(tt.err) != apierrors.IsConflict(got) || apierrors.IsNotFound(tt.err) != apierrors.IsNotFound(got) {
				t.Fatalf("the API status is lost: %v", got)
			}
		})
	}
}

package controllers_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/controllers"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// countingClient counts every write the reconciler makes, status included.
func countingClient(t *testing.T) (client.Client, *atomic.Int64) {
	var writes atomic.Int64
	count := func() { writes.Add(1) }
	c := interceptor.NewClient(noWatch{mgr.GetClient()}, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			count()
			data, _ := p.Data(o)
			t.Logf("patch %T %s: %s", o, o.GetName(), data)
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			count()
			return c.Delete(ctx, o, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			count()
			data, _ := p.Data(o)
			t.Logf("patch %s of %T %s: %s", sub, o, o.GetName(), data)
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			count()
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
	})
	return c, &writes
}

// TestNoOpReconcileMakesNoWrites runs each reconciler directly against the API
// server twice: the first pass may write, the second must not.
func TestNoOpReconcileMakesNoWrites(t *testing.T) {
	ns := env.Namespace(t)
	cl := newClient(ns, "quiet", func(c *v1alpha1.OAuthClient) {
		c.Spec.SecretRotation = &v1alpha1.SecretRotation{Interval: metav1.Duration{Duration: 1 << 40}}
	})
	create(t, cl)
	us := newUser(ns, "quiet")
	create(t, us)
	waitReady(t, cl, metav1.ConditionTrue, "Ready")
	waitReady(t, us, metav1.ConditionTrue, "Ready")

	c, writes := countingClient(t)
	rec := events.NewFakeRecorder(100)
	endpoints := credentials.EndpointsFor(issuer)
	reconcilers := map[string]interface {
		Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
	}{
		"OAuthClient": &controllers.OAuthClientReconciler{Client: c, APIReader: mgr.GetAPIReader(), Scheme: env.Scheme, Recorder: rec, Clock: clock, Endpoints: endpoints},
		"OAuthUser":   &controllers.OAuthUserReconciler{Client: c, APIReader: mgr.GetAPIReader(), Scheme: env.Scheme, Recorder: rec, Endpoints: endpoints},
	}
	for kind, r := range reconcilers {
		req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "quiet"}}
		for pass := 1; pass <= 2; pass++ {
			writes.Store(0)
			if _, err := r.Reconcile(context.Background(), req); err != nil {
				t.Fatalf("%s pass %d: %v", kind, pass, err)
			}
			if pass == 2 && writes.Load() != 0 {
				t.Errorf("%s: a reconcile with nothing to change made %d writes", kind, writes.Load())
			}
		}
	}
}

// noWatch adapts the manager's cached client to what the interceptor wraps.
type noWatch struct{ client.Client }

func (noWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("watch is not used by reconcilers")
}

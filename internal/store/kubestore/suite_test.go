package kubestore_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

var (
	env *testenv.Env
	// mgr runs only its cache: the stores read through it as the token
	// server does, and no controller changes what the tests put.
	mgr manager.Manager
)

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) (func(), error) {
		ctx, cancel := context.WithCancel(context.Background())
		var err error
		mgr, err = ctrl.NewManager(e.Config, ctrl.Options{
			Scheme:                 e.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Cache:                  cache.Options{ByObject: managedOnly(), DefaultTransform: contract.StripForCache},
		})
		if err != nil {
			cancel()
			return nil, err
		}
		if err := contract.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
			cancel()
			return nil, err
		}
		return testenv.RunManager(ctx, cancel, mgr), nil
	})
}

// managedOnly caches Secrets and ConfigMaps as the operator does: those of
// contract.ManagedSelector (and every object through contract.StripForCache).
func managedOnly() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}:    {Label: contract.ManagedSelector()},
		&corev1.ConfigMap{}: {Label: contract.ManagedSelector()},
	}
}

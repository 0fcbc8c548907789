// Package operator wires the Tokenwarden manager: the cache, the controllers
// and (from the token-server issue on) the token server. main.go, the
// integration tests and the demo all build the manager here, so what is tested
// is what runs.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tokenwarden/tokenwarden/controllers"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// newTokenServer builds the token server and a readiness check that passes
// once it has signing keys. It serves on every replica unless its Addr is "0"
// or the mode runs controllers only; either way the workload-token
// controller issues through it in process.
func newTokenServer(ctx context.Context, mgr manager.Manager, o Options, stores store.Stores) (*tokenserver.Server, error) {
	ks, err := tokenserver.NewInformerKeys(ctx, mgr.GetCache(), o.Namespace, ctrl.Log.WithName("keys"))
	if err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("signing-keys", func(*http.Request) error {
		if ks.Current() == nil {
			return errors.New("signing keys not loaded yet")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	o.Token.Log = ctrl.Log
	srv, err := tokenserver.New(o.Token, stores, ks)
	if err != nil {
		return nil, err
	}
	if o.servesTokens() {
		if err := mgr.Add(srv); err != nil {
			return nil, err
		}
	}
	return srv, nil
}

// rateLimited is a copy of cfg with the client-side rate limit of the
// options; the caller's config is left as it was.
func (o *Options) rateLimited(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	// A RateLimiter set by the caller would override QPS and Burst.
	c.RateLimiter = nil
	return c
}

// NewManager builds the manager with what o.Mode runs: the controllers, the
// token server, or both.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (manager.Manager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(o.rateLimited(cfg), ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection && o.runsControllers(),
		LeaderElectionID:        "tokenwarden.oauth.tokenwarden.dev",
		LeaderElectionNamespace: o.Namespace,
		Controller:              config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
		Cache:                   o.cacheOptions(),
		NewCache:                o.newScopedCache,
	})
	if err != nil {
		return nil, fmt.Errorf("new manager: %w", err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	storeOpts := kubestore.Options{
		Cache: mgr.GetClient(), Live: mgr.GetAPIReader(), Writer: mgr.GetClient(), Namespace: o.Namespace, Clock: o.Clock,
		LegacyNamespaces: o.legacyNamespaces(),
	}
	// Before anything serves: records of the previous release written
	// later are never trusted (kubestore/legacy.go).
	if err := kubestore.RecordCutoff(ctx, storeOpts); err != nil {
		return nil, err
	}
	stores := kubestore.New(storeOpts)
	srv, err := newTokenServer(ctx, mgr, o, stores)
	if err != nil {
		return nil, err
	}
	if o.runsControllers() {
		if err := addControllers(mgr, o, stores, srv); err != nil {
			return nil, err
		}
		if err := addLeaderTasks(mgr, o, stores, storeOpts); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// addControllers registers every reconciler.
func addControllers(mgr manager.Manager, o Options, stores store.Stores, srv *tokenserver.Server) error {
	endpoints := credentials.EndpointsFor(o.IssuerURL)
	recorder := mgr.GetEventRecorder("tokenwarden")
	// Validated with the token server's options: which alias paths
	// clients may claim as their default.
	tokenPaths, err := contract.ParseTokenPaths(o.Token.TokenPathAliases)
	if err != nil {
		return err
	}
	if err := (&controllers.OAuthClientReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Clock: o.Clock, Endpoints: endpoints,
		TokenPaths: tokenPaths,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("oauthclient controller: %w", err)
	}
	if err := (&controllers.TokenSecretReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Clock: o.Clock, Endpoints: endpoints,
		Issuer: srv,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("token secret controller: %w", err)
	}
	if err := (&controllers.OAuthUserReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Endpoints: endpoints,
		Namespace: o.Namespace,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("oauthuser controller: %w", err)
	}
	if err := (&controllers.OAuthResourceReconciler{Client: mgr.GetClient(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("oauthresource controller: %w", err)
	}
	if err := (&controllers.ClientGrantReconciler{Client: mgr.GetClient(), Directory: stores.Directory, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("client grant controller: %w", err)
	}
	if err := (&controllers.SigningKeyReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Clock: o.Clock,
		Namespace: o.Namespace, Settings: o.Keys, Generate: keys.GenerateKey,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("signing key controller: %w", err)
	}
	return nil
}

// addLeaderTasks registers the leader's housekeeping: the collector of
// expired server state and the migration of the previous release's records.
func addLeaderTasks(mgr manager.Manager, o Options, stores store.Stores, storeOpts kubestore.Options) error {
	if err := mgr.Add(&controllers.Collector{
		Families: stores.Families, Codes: stores.Codes, Consents: stores.Consents, Revocations: stores.Revocations,
		Reader: mgr.GetClient(), Clock: o.Clock, Interval: o.CollectInterval, Log: ctrl.Log.WithName("collector"),
	}); err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	if err := mgr.Add(&controllers.StoreMigration{Store: storeOpts, Log: ctrl.Log.WithName("store-migration")}); err != nil {
		return fmt.Errorf("store migration: %w", err)
	}
	return nil
}

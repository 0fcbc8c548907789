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
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// Options configure the manager. DefaultOptions is the one place that holds
// their defaults (the command's flags show them); callers start from it.
type Options struct {
	// Namespace is where the operator keeps its own state (signing keys,
	// revocation records, leader election).
	Namespace string
	// IssuerURL is the public base URL of the token server, the iss of every
	// token and the base of the URLs written into credential Secrets.
	IssuerURL string
	// MetricsAddr, ProbeAddr: "0" disables them.
	MetricsAddr string
	ProbeAddr   string
	// LeaderElection makes the controllers run on one replica at a time.
	LeaderElection bool
	// Clock drives time decisions of the controllers and the token server;
	// tests inject a fake one.
	Clock clock.WithTicker
	// SkipControllerNameValidation lets tests start several managers in one
	// process.
	SkipControllerNameValidation bool
	// Keys are the signing-key rotation settings.
	Keys keys.Settings
	// Token configures the token server; its Issuer and Clock are taken
	// from IssuerURL and Clock. Its Addr "0" disables serving (the
	// workload-token controller still issues through it in process).
	Token tokenserver.Options
	// CollectInterval is how often expired refresh families, codes and
	// revocation records are removed (leader only).
	CollectInterval time.Duration
	// KubeAPIQPS and KubeAPIBurst limit the manager's own requests to the
	// API server (client-go's token bucket). Unset, controller-runtime sends
	// without limit, and a flood of requests that each cost a live read
	// would spend the operator's API Priority and Fairness share and starve
	// its own writes.
	KubeAPIQPS   float32
	KubeAPIBurst int
}

// DefaultOptions are the defaults of the operator and every component in it.
func DefaultOptions() Options {
	return Options{
		Namespace: "tokenwarden-system", IssuerURL: "http://127.0.0.1:8443",
		MetricsAddr: ":8080", ProbeAddr: ":8081", LeaderElection: true,
		Clock: clock.RealClock{}, Keys: keys.DefaultSettings(), Token: tokenserver.DefaultOptions(),
		CollectInterval: controllers.DefaultCollectInterval,
		KubeAPIQPS:      500, KubeAPIBurst: 1000,
	}
}

// complete derives the token server's issuer and clock from the operator's.
func (o *Options) complete() {
	o.Token.Issuer = o.IssuerURL
	o.Token.Clock = o.Clock
}

// Validate reports options the operator cannot run with; it is called once,
// by NewManager.
func (o *Options) Validate() error {
	o.complete()
	if o.Namespace == "" {
		return errors.New("the operator namespace is not set")
	}
	if o.Clock == nil {
		return errors.New("no clock")
	}
	if o.CollectInterval <= 0 {
		return fmt.Errorf("collect interval %s must be positive", o.CollectInterval)
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 || float32(o.KubeAPIBurst) < o.KubeAPIQPS {
		return fmt.Errorf("API client rate limit %g/s with burst %d: both must be positive and the burst at least the rate", o.KubeAPIQPS, o.KubeAPIBurst)
	}
	if err := o.Keys.Validate(); err != nil {
		return fmt.Errorf("signing key settings: %w", err)
	}
	for _, a := range []keys.Algorithm{o.Token.AccessTokenAlg, o.Token.IDTokenAlg} {
		if !slices.Contains(o.Keys.Algorithms, a) {
			return fmt.Errorf("token algorithm %q is not among the signing key algorithms", a)
		}
	}
	return o.Token.Validate()
}

// managedSecrets selects the Secrets (and ConfigMaps) Tokenwarden writes or
// reads: only those carrying the kind label are cached, so the manager never
// holds every Secret of the cluster in memory.
func managedSelector() labels.Selector {
	req, err := labels.NewRequirement(contract.LabelKind, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*req)
}

// newTokenServer builds the token server and a readiness check that passes
// once it has signing keys. It serves on every replica unless its Addr is "0";
// either way the workload-token controller issues through it in process.
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
	if o.Token.Addr != "0" {
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

// NewManager builds the manager with every controller registered.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (manager.Manager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(o.rateLimited(cfg), ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "tokenwarden.oauth.tokenwarden.dev",
		LeaderElectionNamespace: o.Namespace,
		Controller:              config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:    {Label: managedSelector()},
			&corev1.ConfigMap{}: {Label: managedSelector()},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("new manager: %w", err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	endpoints := credentials.EndpointsFor(o.IssuerURL)
	recorder := mgr.GetEventRecorder("tokenwarden")
	storeOpts := kubestore.Options{
		Cache: mgr.GetClient(), Live: mgr.GetAPIReader(), Writer: mgr.GetClient(), Namespace: o.Namespace, Clock: o.Clock,
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
	// Validated with the token server's options: which alias paths
	// clients may claim as their default.
	tokenPaths, err := contract.ParseTokenPaths(o.Token.TokenPathAliases)
	if err != nil {
		return nil, err
	}
	if err := (&controllers.OAuthClientReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Clock: o.Clock, Endpoints: endpoints,
		TokenPaths: tokenPaths,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("oauthclient controller: %w", err)
	}
	if err := (&controllers.TokenSecretReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Clock: o.Clock, Endpoints: endpoints,
		Issuer: srv,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("token secret controller: %w", err)
	}
	if err := (&controllers.OAuthUserReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Endpoints: endpoints,
		Namespace: o.Namespace,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("oauthuser controller: %w", err)
	}
	if err := (&controllers.OAuthResourceReconciler{Client: mgr.GetClient(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("oauthresource controller: %w", err)
	}
	if err := (&controllers.ClientGrantReconciler{Client: mgr.GetClient(), Directory: stores.Directory, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("client grant controller: %w", err)
	}
	if err := (&controllers.SigningKeyReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Clock: o.Clock,
		Namespace: o.Namespace, Settings: o.Keys, Generate: keys.GenerateKey,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("signing key controller: %w", err)
	}
	if err := mgr.Add(&controllers.Collector{
		Families: stores.Families, Codes: stores.Codes, Consents: stores.Consents, Revocations: stores.Revocations,
		Reader: mgr.GetClient(), Clock: o.Clock, Interval: o.CollectInterval, Log: ctrl.Log.WithName("collector"),
	}); err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	if err := mgr.Add(&controllers.StoreMigration{Store: storeOpts, Log: ctrl.Log.WithName("store-migration")}); err != nil {
		return nil, fmt.Errorf("store migration: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

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
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// Options configure the manager. Zero values are filled by Defaults.
type Options struct {
	// Namespace is where the operator keeps its own state (signing keys).
	Namespace string
	// IssuerURL is the public base URL of the token server, the iss of every
	// token and the base of the URLs written into credential Secrets.
	IssuerURL string
	// MetricsAddr, ProbeAddr: "0" disables them.
	MetricsAddr string
	ProbeAddr   string
	// LeaderElection makes the controllers run on one replica at a time.
	LeaderElection bool
	// Clock drives time decisions; tests inject a fake one.
	Clock clock.Clock
	// SkipControllerNameValidation lets tests start several managers in one
	// process.
	SkipControllerNameValidation bool
	// Keys are the signing-key rotation settings.
	Keys keys.Settings
	// Token configures the token server. Its Addr "0" disables it.
	Token tokenserver.Options
	// CollectInterval is how often expired refresh families and revocation
	// records are removed (default 10 minutes).
	CollectInterval time.Duration
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.ProbeAddr == "" {
		o.ProbeAddr = "0"
	}
	if len(o.Keys.Algorithms) == 0 {
		o.Keys = keys.DefaultSettings()
	}
	o.Token.Issuer = o.IssuerURL
	o.Token.Namespace = o.Namespace
	if o.Token.Clock == nil {
		o.Token.Clock = o.Clock
	}
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
func newTokenServer(ctx context.Context, mgr manager.Manager, o Options) (*tokenserver.Server, error) {
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
	srv := tokenserver.New(o.Token, tokenserver.Cluster{Cache: mgr.GetClient(), Live: mgr.GetAPIReader(), Writer: mgr.GetClient()}, ks)
	if o.Token.Addr != "0" {
		if err := mgr.Add(srv); err != nil {
			return nil, err
		}
	}
	return srv, nil
}

// NewManager builds the manager with every controller registered.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (manager.Manager, error) {
	o.Defaults()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
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
	srv, err := newTokenServer(ctx, mgr, o)
	if err != nil {
		return nil, err
	}
	if err := (&controllers.OAuthClientReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Clock: o.Clock, Endpoints: endpoints,
		Issuer: srv,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("oauthclient controller: %w", err)
	}
	if err := (&controllers.OAuthUserReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: recorder, Endpoints: endpoints,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("oauthuser controller: %w", err)
	}
	if err := (&controllers.SigningKeyReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Clock: o.Clock,
		Namespace: o.Namespace, Settings: o.Keys, Generate: keys.GenerateKey,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("signing key controller: %w", err)
	}
	if err := mgr.Add(&tokenserver.Collector{
		Reader: mgr.GetClient(), Writer: mgr.GetClient(), Namespace: o.Namespace, Clock: o.Clock,
		Interval: o.CollectInterval, Log: ctrl.Log.WithName("collector"),
	}); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Command tokenwarden runs the Tokenwarden operator: the controllers that turn
// OAuthClients and OAuthUsers into credential Secrets and the token server.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenwarden/tokenwarden/internal/operator"
)

func main() {
	var o operator.Options
	flag.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "tokenwarden-system"),
		"Namespace where Tokenwarden keeps its own state (signing keys, leader election). Defaults to $POD_NAMESPACE.")
	flag.StringVar(&o.IssuerURL, "issuer-url", envOr("TOKENWARDEN_ISSUER_URL", "http://127.0.0.1:8443"),
		"Public base URL of the token server: the iss claim of every token and the base of token_url and jwks_url in credential Secrets.")
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; \"0\" disables it.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes; \"0\" disables them.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true, "Run the controllers on one replica at a time (the token server runs on every replica).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	if u, err := url.Parse(o.IssuerURL); err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		fmt.Fprintf(os.Stderr, "--issuer-url %q must be an absolute http(s) URL without query or fragment\n", o.IssuerURL)
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.NewManager(ctx, ctrl.GetConfigOrDie(), o)
	if err != nil {
		log.Error(err, "cannot build the manager")
		os.Exit(1)
	}
	log.Info("starting", "issuer", o.IssuerURL, "namespace", o.Namespace)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

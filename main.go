// Command tokenwarden runs the Tokenwarden operator: the controllers that turn
// OAuthClients and OAuthUsers into credential Secrets and the token server.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenwarden/tokenwarden/internal/keys"
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
	flag.StringVar(&o.Token.Addr, "token-bind-address", ":8443", "Address of the token server (every replica serves it); \"0\" disables it.")
	flag.StringVar(&o.Token.TLSCertFile, "tls-cert-file", "", "TLS certificate for the token server; re-read when it changes. Plain HTTP without it (terminate TLS in front).")
	flag.StringVar(&o.Token.TLSKeyFile, "tls-key-file", "", "TLS private key matching --tls-cert-file.")
	flag.Func("token-path-alias", "Extra path answering like /oauth/token, e.g. /token or /api/v4/connect/token (repeatable).", func(v string) error {
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "{} ") {
			return fmt.Errorf("%q must be an absolute path without spaces or braces", v)
		}
		o.Token.TokenPathAliases = append(o.Token.TokenPathAliases, v)
		return nil
	})
	flag.Func("default-client", "namespace/name of the OAuthClient used when a request on an alias path names no client (legacy password-grant clients).", func(v string) error {
		ns, name, ok := strings.Cut(v, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("%q must be namespace/name", v)
		}
		o.Token.DefaultClient = &types.NamespacedName{Namespace: ns, Name: name}
		return nil
	})
	refreshGrace := flag.Duration("refresh-grace", 10*time.Second, "How long a just-rotated refresh token is still accepted, for honest retries; a later replay revokes its family. 0 turns the window off.")
	flag.DurationVar(&o.CollectInterval, "collect-interval", 10*time.Minute, "How often expired or orphaned refresh-token families and expired access-token revocation records are removed (leader only).")
	flag.Int64Var(&o.Token.MaxBodyBytes, "max-body-bytes", 64<<10, "Largest request body the token server reads.")
	flag.IntVar(&o.Token.UserThrottle.MaxFailures, "throttle-user-failures", 10, "Failed sign-ins of one user from one source address within --throttle-window before further attempts from there wait (the owner signing in from elsewhere is not locked out).")
	flag.IntVar(&o.Token.SourceThrottle.MaxFailures, "throttle-source-failures", 50, "Failed sign-ins per source address within --throttle-window before further attempts wait.")
	throttleWindow := flag.Duration("throttle-window", 5*time.Minute, "Sliding window of the failed sign-in throttle; a block always ends within it.")
	accessAlg := flag.String("access-token-alg", "ES256", "Algorithm of access tokens: ES256, RS256 or EdDSA.")
	idAlg := flag.String("id-token-alg", "RS256", "Algorithm of id_tokens: RS256 (the OpenID Connect default), ES256 or EdDSA.")
	keyAlgs := flag.String("key-algorithms", "ES256,RS256", "Comma-separated algorithms to keep signing keys for; must include the token algorithms.")
	o.Keys = keys.DefaultSettings()
	flag.DurationVar(&o.Keys.RotationPeriod, "key-rotation-period", o.Keys.RotationPeriod, "How long a signing key signs before the next takes over.")
	flag.DurationVar(&o.Keys.PublishAhead, "key-publish-ahead", o.Keys.PublishAhead, "How long a new key is published before it signs; keep it above the JWKS max-age (1h).")
	flag.DurationVar(&o.Keys.RetainAfterRetire, "key-retain", o.Keys.RetainAfterRetire, "How long a retired key stays published: the longest token lifetime (24h at most) plus leeway.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	if u, err := url.Parse(o.IssuerURL); err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		fmt.Fprintf(os.Stderr, "--issuer-url %q must be an absolute http(s) URL without query or fragment\n", o.IssuerURL)
		os.Exit(2)
	}
	o.Token.UserThrottle.Window, o.Token.SourceThrottle.Window = *throttleWindow, *throttleWindow
	o.Token.RefreshGrace = *refreshGrace
	if *refreshGrace <= 0 {
		o.Token.RefreshGrace = -1 // off
	}
	o.Token.UserThrottle.MaxKeys, o.Token.SourceThrottle.MaxKeys = 100000, 100000
	o.Token.AccessTokenAlg, o.Token.IDTokenAlg = keys.Algorithm(*accessAlg), keys.Algorithm(*idAlg)
	o.Keys.Algorithms = nil
	for _, a := range strings.Split(*keyAlgs, ",") {
		o.Keys.Algorithms = append(o.Keys.Algorithms, keys.Algorithm(strings.TrimSpace(a)))
	}
	if err := checkAlgorithms(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
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

// checkAlgorithms refuses key settings that would leave a token type unsigned
// or let a verifier meet an unknown kid.
func checkAlgorithms(o operator.Options) error {
	if err := o.Keys.Validate(); err != nil {
		return fmt.Errorf("signing key settings (--key-*): %w", err)
	}
	for _, a := range []keys.Algorithm{o.Token.AccessTokenAlg, o.Token.IDTokenAlg} {
		if !slices.Contains(o.Keys.Algorithms, a) {
			return fmt.Errorf("token algorithm %q is not in --key-algorithms", a)
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

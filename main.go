// Command tokenwarden runs the Tokenwarden operator: the controllers that turn
// OAuthClients and OAuthUsers into credential Secrets and the token server.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

func main() {
	o, zapOpts := bindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(zapOpts)))
	log := ctrl.Log.WithName("setup")
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "invalid flags:", err)
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.NewManager(ctx, ctrl.GetConfigOrDie(), *o)
	if err != nil {
		log.Error(err, "cannot build the manager")
		os.Exit(1)
	}
	log.Info("starting", "mode", o.Mode, "issuer", o.IssuerURL, "namespace", o.Namespace, "watchNamespaces", o.WatchNamespaces)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// bindFlags binds every flag to a field of the operator's options, which start
// from operator.DefaultOptions: the flags hold no defaults of their own.
func bindFlags(fs *flag.FlagSet) (*operator.Options, *zap.Options) {
	o := operator.DefaultOptions()
	o.Namespace, o.IssuerURL = envOr("POD_NAMESPACE", o.Namespace), envOr("TOKENWARDEN_ISSUER_URL", o.IssuerURL)
	fs.Func("mode", "What this process runs: all (controllers and token server), controllers, or token-server (the token server alone, needing only read rights and the writes of its own state; default "+string(o.Mode)+").", func(v string) error {
		o.Mode = operator.Mode(v)
		return nil
	})
	fs.Func("watch-namespaces", "Comma-separated namespaces to serve: OAuthClients, OAuthUsers, OAuthResources and Secrets elsewhere are invisible to the controllers and the token server (default: every namespace).", func(v string) error {
		o.WatchNamespaces = nil
		for _, ns := range strings.Split(v, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				o.WatchNamespaces = append(o.WatchNamespaces, ns)
			}
		}
		return nil
	})
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "Namespace where Tokenwarden keeps its own state (signing keys, leader election). Defaults to $POD_NAMESPACE.")
	fs.StringVar(&o.IssuerURL, "issuer-url", o.IssuerURL, "Public base URL of the token server: the iss claim of every token and the base of token_url and jwks_url in credential Secrets.")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Address of the Prometheus metrics endpoint; \"0\" disables it.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "Address of the /healthz and /readyz probes; \"0\" disables them.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "Run the controllers on one replica at a time (the token server runs on every replica).")
	fs.DurationVar(&o.CollectInterval, "collect-interval", o.CollectInterval, "How often expired or orphaned refresh-token families and expired access-token revocation records are removed (leader only).")
	fs.Func("kube-api-qps", "Requests per second the manager sends to the API server at most (client-side limit; default "+strconv.FormatFloat(float64(o.KubeAPIQPS), 'g', -1, 32)+").", func(v string) error {
		q, err := strconv.ParseFloat(v, 32)
		o.KubeAPIQPS = float32(q)
		return err
	})
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Requests the manager may send to the API server in a burst above --kube-api-qps.")
	bindTokenFlags(fs, &o.Token)
	bindKeyFlags(fs, &o.Keys)
	zapOpts := &zap.Options{}
	zapOpts.BindFlags(fs)
	return &o, zapOpts
}

func bindTokenFlags(fs *flag.FlagSet, t *tokenserver.Options) {
	fs.StringVar(&t.Addr, "token-bind-address", t.Addr, "Address of the token server (every replica serves it); \"0\" disables it.")
	fs.StringVar(&t.TLSCertFile, "tls-cert-file", t.TLSCertFile, "TLS certificate for the token server; re-read when it changes. Plain HTTP without it (terminate TLS in front).")
	fs.StringVar(&t.TLSKeyFile, "tls-key-file", t.TLSKeyFile, "TLS private key matching --tls-cert-file.")
	fs.Func("token-path-alias", "Extra path answering like /oauth/token, e.g. /token, /api/v4/connect/token or the template /{namespace}/{name}/token, with options after ';': errors=rfc6749|detail, issued-at=milliseconds|omit, user=none|standard|usergrid, claimable=NAMESPACES|* (repeatable).", func(v string) error {
		t.TokenPathAliases = append(t.TokenPathAliases, v)
		return nil
	})
	fs.Func("default-client", "namespace/name of the OAuthClient used when a request on an alias path names no client (legacy password-grant clients) and no client holds the path as its default.", func(v string) error {
		ns, name, ok := strings.Cut(v, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("%q must be namespace/name", v)
		}
		t.DefaultClient = &types.NamespacedName{Namespace: ns, Name: name}
		return nil
	})
	fs.DurationVar(&t.RefreshGrace, "refresh-grace", t.RefreshGrace, "How long a just-rotated refresh token is still accepted, for honest retries; a later replay revokes its family. 0 turns the window off.")
	fs.Int64Var(&t.MaxBodyBytes, "max-body-bytes", t.MaxBodyBytes, "Largest request body the token server reads.")
	fs.IntVar(&t.UserThrottle.MaxFailures, "throttle-user-failures", t.UserThrottle.MaxFailures, "Failed sign-ins of one user from one source address within --throttle-window before further attempts from there wait (the owner signing in from elsewhere is not locked out).")
	fs.IntVar(&t.HashConcurrency, "hash-concurrency", t.HashConcurrency, "Password-hash verifications run at once per replica (each may hold 64 MiB for argon2id); a sign-in beyond it is answered 503 temporarily_unavailable with Retry-After.")
	fs.IntVar(&t.MaxFamiliesPerUser, "max-families-per-user", t.MaxFamiliesPerUser, "Live refresh-token families (sessions) one user may hold with one client; one more sign-in is refused with invalid_request until one is revoked or expires.")
	fs.IntVar(&t.MaxRevocationsPerClient, "max-revocations-per-client", t.MaxRevocationsPerClient, "Revoked access tokens of one client kept on record until they expire; a revocation beyond it is answered 503 temporarily_unavailable (the token stays valid).")
	fs.IntVar(&t.SourceThrottle.MaxFailures, "throttle-source-failures", t.SourceThrottle.MaxFailures, "Failed sign-ins per source address within --throttle-window before further attempts wait.")
	fs.Func("trusted-proxies", "Comma-separated CIDRs of proxies whose Forwarded / X-Forwarded-For headers name the client the throttles key on (default none: the TCP peer is the source).", func(v string) error {
		ps, err := oauth.ParseTrustedProxies(v)
		t.TrustedProxies = ps
		return err
	})
	fs.Func("throttle-window", "Sliding window of the failed sign-in throttle; a block always ends within it (default "+t.UserThrottle.Window.String()+").", func(v string) error {
		d, err := time.ParseDuration(v)
		t.UserThrottle.Window, t.SourceThrottle.Window = d, d
		return err
	})
	fs.Func("service-account-audience", "Audience a ServiceAccount token must be for to authenticate a client (repeatable; default the issuer URL). Every aud of the token must be one of these.", func(v string) error {
		t.ServiceAccountAudiences = append(t.ServiceAccountAudiences, v)
		return nil
	})
	fs.DurationVar(&t.ServiceAccountReviewTTL, "service-account-review-ttl", t.ServiceAccountReviewTTL, "How long a ServiceAccount token's positive TokenReview is reused (never past the token's exp); a deleted ServiceAccount or pod stops authenticating within it (plus the API server's own 10 s cache). 0 reviews every request.")
	fs.Func("access-token-alg", "Algorithm of access tokens: ES256, RS256 or EdDSA (default "+string(t.AccessTokenAlg)+").", algFlag(&t.AccessTokenAlg))
	fs.Func("id-token-alg", "Algorithm of id_tokens: RS256 (the OpenID Connect default), ES256 or EdDSA (default "+string(t.IDTokenAlg)+").", algFlag(&t.IDTokenAlg))
}

func bindKeyFlags(fs *flag.FlagSet, k *keys.Settings) {
	fs.Func("key-algorithms", "Comma-separated algorithms to keep signing keys for; must include the token algorithms (default "+joinAlgs(k.Algorithms)+").", func(v string) error {
		k.Algorithms = nil
		for _, a := range strings.Split(v, ",") {
			k.Algorithms = append(k.Algorithms, keys.Algorithm(strings.TrimSpace(a)))
		}
		return nil
	})
	fs.DurationVar(&k.RotationPeriod, "key-rotation-period", k.RotationPeriod, "How long a signing key signs before the next takes over.")
	fs.DurationVar(&k.PublishAhead, "key-publish-ahead", k.PublishAhead, "How long a new key is published before it signs; keep it above the JWKS max-age (1h).")
	fs.DurationVar(&k.RetainAfterRetire, "key-retain", k.RetainAfterRetire, "How long a retired key stays published: the longest token lifetime (24h at most) plus leeway.")
}

func algFlag(dst *keys.Algorithm) func(string) error {
	return func(v string) error {
		*dst = keys.Algorithm(strings.TrimSpace(v))
		return nil
	}
}

func joinAlgs(as []keys.Algorithm) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ",")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

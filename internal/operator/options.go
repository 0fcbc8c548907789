package operator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"

	"github.com/tokenwarden/tokenwarden/controllers"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// Mode selects what one manager process runs.
type Mode string

const (
	// ModeAll runs the controllers (leader-elected) and the token server
	// in one process: the simple install.
	ModeAll Mode = "all"
	// ModeControllers runs the controllers only. The token server is still
	// built, for the workload-token controller's in-process issuance, but
	// does not listen.
	ModeControllers Mode = "controllers"
	// ModeTokenServer runs the token server only: no controller, no
	// collector, no leader election. It reads clients, users, resources,
	// namespaces and credential Secrets, and writes only the records of its
	// own state in the operator's namespace, so it can run as a
	// ServiceAccount with those rights alone.
	ModeTokenServer Mode = "token-server"
)

// Modes lists the valid modes.
func Modes() []Mode { return []Mode{ModeAll, ModeControllers, ModeTokenServer} }

// Options configure the manager. DefaultOptions is the one place that holds
// their defaults (the command's flags show them); callers start from it.
type Options struct {
	// Mode selects controllers, token server or both.
	Mode Mode
	// Namespace is where the operator keeps its own state (signing keys,
	// revocation records, leader election).
	Namespace string
	// WatchNamespaces, when set, restricts the manager to OAuthClients,
	// OAuthUsers, OAuthResources and Secrets of these namespaces (and its
	// own state in Namespace): its caches, controllers and token server see
	// nothing else, so it needs no cluster-wide Secret access. Empty: every
	// namespace.
	WatchNamespaces []string
	// IssuerURL is the public base URL of the token server, the iss of every
	// token and the base of the URLs written into credential Secrets.
	IssuerURL string
	// MetricsAddr, ProbeAddr: "0" disables them.
	MetricsAddr string
	ProbeAddr   string
	// LeaderElection makes the controllers run on one replica at a time.
	// A token-server-only manager never campaigns: it runs nothing
	// leader-elected.
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
		Mode:      ModeAll,
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

// runsControllers and servesTokens say what the mode runs.
func (o *Options) runsControllers() bool { return o.Mode != ModeTokenServer }
func (o *Options) servesTokens() bool    { return o.Mode != ModeControllers && o.Token.Addr != "0" }

// legacyNamespaces are where the previous release's records may be: every
// namespace (nil), or with WatchNamespaces those and the operator's.
func (o *Options) legacyNamespaces() []string {
	if len(o.WatchNamespaces) == 0 {
		return nil
	}
	if slices.Contains(o.WatchNamespaces, o.Namespace) {
		return slices.Clone(o.WatchNamespaces)
	}
	return append(slices.Clone(o.WatchNamespaces), o.Namespace)
}

// Validate reports options the operator cannot run with; it is called once,
// by NewManager.
func (o *Options) Validate() error {
	o.complete()
	if !slices.Contains(Modes(), o.Mode) {
		return fmt.Errorf("mode %q is not one of %s", o.Mode, joinModes())
	}
	if o.Namespace == "" {
		return errors.New("the operator namespace is not set")
	}
	if err := validateNamespaces(o.WatchNamespaces); err != nil {
		return err
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

// validateNamespaces checks a --watch-namespaces list: namespace names, each
// once.
func validateNamespaces(nss []string) error {
	for i, ns := range nss {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("watch namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		if slices.Contains(nss[:i], ns) {
			return fmt.Errorf("watch namespace %q is listed twice", ns)
		}
	}
	return nil
}

func joinModes() string {
	ms := Modes()
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

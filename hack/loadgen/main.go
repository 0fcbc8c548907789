// Command loadgen drives a running Tokenwarden token server and reports, per
// scenario, requests/s, latency percentiles and errors.
//
//	go run ./hack/loadgen -client-id ID -client-secret SECRET \
//	    -username alice -password PASSWORD -concurrency 8 -duration 10s
//
// Scenarios: client_credentials, password, refresh_token (each worker gets its
// own refresh token with the password grant, then chains the rotated tokens),
// jwks, introspect (each worker gets an access token with client_credentials,
// then introspects it). They run one after the other, each for -duration or
// -requests, whichever comes first.
//
// By default it only talks to loopback addresses (127.0.0.0/8, ::1,
// localhost); -allow-remote lifts that. The check is made on the URL and again
// on every connection, so neither a DNS answer nor a redirect can send the load
// elsewhere.
//
// Exit status: 0 when every scenario had at least one successful request, 1
// when every request of some scenario failed, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenario names, in the order they run by default.
const (
	scClientCredentials = "client_credentials"
	scPassword          = "password"
	scRefreshToken      = "refresh_token"
	scJWKS              = "jwks"
	scIntrospect        = "introspect"
)

var allScenarios = []string{scClientCredentials, scPassword, scRefreshToken, scJWKS, scIntrospect}

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadFlags = 2
)

// defaultMaxSamples bounds the latencies kept per scenario; below it the
// percentiles are exact, above it they come from a uniform sample.
const defaultMaxSamples = 1_000_000

// config is everything a run needs; flags fill it.
type config struct {
	baseURL      string
	scenarios    []string
	clientID     string
	clientSecret string
	username     string
	password     string
	scope        string
	concurrency  int
	duration     time.Duration
	requests     int
	timeout      time.Duration
	json         bool
	allowRemote  bool
	insecure     bool
	maxSamples   int
	// serverPID, when set, is the token server's process: its CPU time
	// during each scenario is reported (Linux /proc).
	serverPID int
	// The assertion scenarios (assertion.go): the client they
	// authenticate as, a ServiceAccount token, a private key and its kid.
	assertionClientID, saTokenFile, clientKeyFile, clientKeyID string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it parses args, runs the scenarios and prints the
// results on stdout (progress and diagnostics on stderr). It returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	var pe parseError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &pe):
		return exitBadFlags // the flag package has printed it, with the usage
	case err != nil:
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitBadFlags
	}
	if err := checkTarget(ctx, cfg.baseURL, cfg.allowRemote, nil); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitBadFlags
	}
	progress := stderr
	rep, err := Run(ctx, cfg, progress)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailed
	}
	if cfg.json {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailed
		}
	} else {
		writeTable(stdout, rep)
	}
	code := exitOK
	for _, s := range rep.Scenarios {
		switch {
		case s.Successes > 0:
		case s.Requests == 0 && s.SetupErrors > 0:
			fmt.Fprintf(stderr, "loadgen: scenario %s: every worker's setup failed (%s)\n", s.Name, kindSummary(s.SetupKinds))
			code = exitFailed
		default:
			fmt.Fprintf(stderr, "loadgen: scenario %s: every request failed\n", s.Name)
			code = exitFailed
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "loadgen: interrupted")
		code = exitFailed
	}
	return code
}

// parseFlags reads args into a config and validates it.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{maxSamples: defaultMaxSamples}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scenarios string
	fs.StringVar(&cfg.baseURL, "url", "http://127.0.0.1:8443", "base URL of the token server")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios: "+strings.Join(allScenarios, ",")+" (default: every one the given credentials allow)")
	fs.StringVar(&cfg.clientID, "client-id", "", "OAuth client id")
	fs.StringVar(&cfg.clientSecret, "client-secret", "", "OAuth client secret (empty for a public client: client_id is sent in the body)")
	fs.StringVar(&cfg.username, "username", "", "user for the password and refresh_token scenarios")
	fs.StringVar(&cfg.password, "password", "", "password of -username")
	fs.StringVar(&cfg.scope, "scope", "", "scope to request (space-separated)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "concurrent workers per scenario")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "time limit per scenario (0 = none; then -requests must be set)")
	fs.IntVar(&cfg.requests, "requests", 0, "stop a scenario after this many requests (0 = unbounded)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON instead of a table")
	fs.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow a -url whose host is not a loopback address")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "pid of the token server process on this machine: report its CPU time per request and requests/s per server core (Linux)")
	fs.StringVar(&cfg.assertionClientID, "assertion-client-id", "", "client of the "+strings.Join(assertionScenarios, " and ")+" scenarios (no secret)")
	fs.StringVar(&cfg.saTokenFile, "sa-token-file", "", "ServiceAccount token (audience: the issuer) sent as client assertion by "+scServiceAccount)
	fs.StringVar(&cfg.clientKeyFile, "client-key-file", "", "PKCS#8 PEM private key (EC or RSA) that signs "+scPrivateKeyJWT+" assertions")
	fs.StringVar(&cfg.clientKeyID, "client-key-id", "", "kid of -client-key-file in the client's JWKS")
	fs.BoolVar(&cfg.insecure, "insecure", false, "skip TLS certificate verification (https with a self-signed certificate)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: loadgen [flags]\n\nDrives a Tokenwarden token server and prints requests/s, latency percentiles and errors per scenario.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, parseError{err}
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.validate(scenarios); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// parseError is an error the flag package has already reported.
type parseError struct{ error }

func (c *config) validate(scenarios string) error {
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return fmt.Errorf("-url: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("-url %q: the scheme must be http or https", c.baseURL)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("-url %q: no host", c.baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("-url %q: give a base URL without user info, query or fragment", c.baseURL)
	}
	c.baseURL = strings.TrimRight(u.String(), "/")
	switch {
	case c.concurrency < 1:
		return errors.New("-concurrency must be at least 1")
	case c.requests < 0:
		return errors.New("-requests must not be negative")
	case c.duration < 0:
		return errors.New("-duration must not be negative")
	case c.duration == 0 && c.requests == 0:
		return errors.New("-duration 0 needs -requests: a scenario must be bounded")
	case c.timeout <= 0:
		return errors.New("-timeout must be positive")
	case c.maxSamples < 1:
		return errors.New("the sample cap must be positive")
	}
	if (c.username == "") != (c.password == "") {
		return errors.New("-username and -password go together")
	}
	if strings.TrimSpace(scenarios) == "" {
		c.scenarios = c.allowedScenarios()
		if len(c.scenarios) == 0 {
			return errors.New("no scenario to run")
		}
		return nil
	}
	c.scenarios = nil
	for _, name := range strings.Split(scenarios, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			for _, s := range allScenarios {
				if !slices.Contains(c.scenarios, s) {
					c.scenarios = append(c.scenarios, s)
				}
			}
			continue
		}
		if !slices.Contains(allScenarios, name) && !slices.Contains(assertionScenarios, name) {
			return fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", name, strings.Join(append(slices.Clone(allScenarios), assertionScenarios...), ","))
		}
		if !slices.Contains(c.scenarios, name) {
			c.scenarios = append(c.scenarios, name)
		}
	}
	if len(c.scenarios) == 0 {
		return errors.New("-scenarios: empty list")
	}
	for _, s := range c.scenarios {
		if missing := c.missingFor(s); missing != "" {
			return fmt.Errorf("scenario %s needs %s", s, missing)
		}
	}
	return nil
}

// missingFor names the flags a scenario needs that are not set, or "".
func (c *config) missingFor(scenario string) string {
	var missing []string
	switch scenario {
	case scClientCredentials, scIntrospect:
		// Both need a confidential client (introspection refuses public ones).
		if c.clientID == "" {
			missing = append(missing, "-client-id")
		}
		if c.clientSecret == "" {
			missing = append(missing, "-client-secret")
		}
	case scServiceAccount, scPrivateKeyJWT:
		if c.assertionClientID == "" {
			missing = append(missing, "-assertion-client-id")
		}
		if scenario == scServiceAccount && c.saTokenFile == "" {
			missing = append(missing, "-sa-token-file")
		}
		if scenario == scPrivateKeyJWT && c.clientKeyFile == "" {
			missing = append(missing, "-client-key-file")
		}
	case scPassword, scRefreshToken:
		if c.clientID == "" {
			missing = append(missing, "-client-id")
		}
		if c.username == "" {
			missing = append(missing, "-username")
		}
		if c.password == "" {
			missing = append(missing, "-password")
		}
	}
	return strings.Join(missing, " and ")
}

// allowedScenarios is every scenario the given credentials can run.
func (c *config) allowedScenarios() []string {
	var out []string
	for _, s := range allScenarios {
		if c.missingFor(s) == "" {
			out = append(out, s)
		}
	}
	// The assertion scenarios only when their flags are given.
	for _, s := range assertionScenarios {
		if c.assertionClientID != "" && c.missingFor(s) == "" {
			out = append(out, s)
		}
	}
	return out
}

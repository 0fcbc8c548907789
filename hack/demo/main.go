// Command demo runs Tokenwarden end to end on this machine, with nothing but
// Go installed: a local control plane (kube-apiserver and etcd on 127.0.0.1,
// from hack/setup-envtest.sh), the operator with its token server on
// 127.0.0.1, and the objects of config/samples. It then prints what to run
// next (a KUBECONFIG to export, kubectl and curl commands with the real client
// secrets and password) and runs until Ctrl-C, which stops everything it
// started.
//
//	go run ./hack/demo            # what `make demo` runs
//	go run ./hack/demo -check     # also run the printed token requests, then stop (tests, CI)
//
// One demo runs at a time per state directory: a second one says so and exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

// Names the demo creates.
const (
	operatorNamespace = "tokenwarden-system"
	demoNamespace     = "demo"
	// The samples the printed commands use, and the token Secrets the demo
	// adds to them.
	serviceClient      = "billing-service"
	serviceTokenSecret = "billing-service-token"
	cliClient          = "reporting-cli"
	demoUser           = "alice"
	userTokenSecret    = "alice-token"
	// passwordScope is asked for in the password grant: offline_access
	// brings a refresh token.
	passwordScope = "openid offline_access reports.read"

	lockFileName       = "demo.lock"
	kubeconfigFileName = "kubeconfig"
	logFileName        = "operator.log"
)

// options are the command-line flags.
type options struct {
	// StateDir holds the lock, the kubeconfig and the operator log.
	StateDir string
	// Port of the token server on 127.0.0.1; when it is busy a free port is
	// used instead. 0 always picks a free port.
	Port int
	// Check runs the token requests the demo prints, then stops.
	Check bool
	// ReadyTimeout bounds the wait for the samples to become Ready.
	ReadyTimeout time.Duration
	// Verbose sends the operator's logs to stderr instead of the log file.
	Verbose bool
	// MaxFamiliesPerUser overrides the operator's cap on a user's live
	// refresh-token families (0: the operator's default); the load test
	// signs one user in thousands of times.
	MaxFamiliesPerUser int

	// onReady, for tests, is called once everything runs and the
	// instructions are printed, while the demo holds its lock.
	onReady func()
}

func defaultStateDir() string {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "tokenwarden-demo")
}

func main() {
	opts := options{}
	flag.StringVar(&opts.StateDir, "state-dir", defaultStateDir(), "Directory for the lock file, the kubeconfig and the operator log.")
	flag.IntVar(&opts.Port, "port", 8443, "Port of the token server on 127.0.0.1; a free port is used when it is busy (0: always a free port).")
	flag.BoolVar(&opts.Check, "check", false, "Run the printed client_credentials, password and refresh_token requests, report, and stop (exit status 0 when they all succeed).")
	flag.DurationVar(&opts.ReadyTimeout, "ready-timeout", 2*time.Minute, "How long to wait for the samples and token Secrets to become Ready.")
	flag.IntVar(&opts.MaxFamiliesPerUser, "max-families-per-user", 0, "Cap on one user's live refresh-token families (0: the operator's default); make bench raises it, since it signs one user in thousands of times.")
	flag.BoolVar(&opts.Verbose, "v", false, "Write the operator's logs to stderr instead of STATE_DIR/"+logFileName+".")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "demo: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}

	// The first signal stops the demo cleanly; later ones only say that it is
	// on its way (kube-apiserver and etcd run in their own process group, so
	// Ctrl-C reaches them only through this program).
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		first := true
		for range sigs {
			if first {
				first = false
				cancel()
				continue
			}
			fmt.Fprintln(os.Stderr, "still stopping the operator and the control plane; this takes a few seconds")
		}
	}()

	err := run(ctx, opts, os.Stdout)
	cancel()
	var running *alreadyRunningError
	switch {
	case errors.As(err, &running):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run is the whole demo: it returns when ctx ends (or, with Check, once the
// check is done), after stopping everything it started.
func run(ctx context.Context, opts options, stdout io.Writer) (err error) {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	stateDir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(stateDir, kubeconfigFileName)
	lk, err := acquireLock(stateDir)
	if err != nil {
		return err
	}
	defer lk.release()
	if err := lk.record(os.Getpid(), kubeconfig); err != nil {
		return err
	}

	// Controller-runtime logs go to a file: the terminal is for the
	// instructions.
	logPath := filepath.Join(stateDir, logFileName)
	var logOut io.Writer = os.Stderr
	if !opts.Verbose {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("operator log: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut)))

	started := time.Now()
	fmt.Fprintln(stdout, "Starting a local control plane (kube-apiserver and etcd on 127.0.0.1). The first run on this")
	fmt.Fprintln(stdout, "machine builds them from the Go module proxy: about 7-10 minutes on 2 cores. Later runs take seconds.")
	env, err := testenv.Start()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "Interrupted while starting the control plane; nothing is left running.")
			return nil
		}
		return fmt.Errorf("start the control plane: %w", err)
	}
	defer func() {
		if stopErr := env.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stop the control plane: %w", stopErr)
		}
		_ = os.Remove(kubeconfig) // it points at a control plane that is gone
		if err == nil {
			fmt.Fprintln(stdout, "Tokenwarden demo stopped: operator, kube-apiserver and etcd are down.")
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil // interrupted while starting
	}
	if err := writeKubeconfig(env.Config, kubeconfig); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Control plane up (%s).\n", time.Since(started).Round(100*time.Millisecond))

	// A Ctrl-C while starting up is a normal stop, not a failure.
	interrupted := func(err error) error {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for _, ns := range []string{operatorNamespace, demoNamespace} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return interrupted(fmt.Errorf("create namespace %s: %w", ns, err))
		}
	}

	ln, note, err := listen(opts.Port)
	if err != nil {
		return err
	}
	defer ln.Close()
	if note != "" {
		fmt.Fprintln(stdout, note)
	}
	issuer := "http://" + ln.Addr().String()
	stopManager, err := startManager(env.Config, issuer, ln, opts.MaxFamiliesPerUser)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := stopManager(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	objs, err := applySamples(ctx, env.Client)
	if err != nil {
		return interrupted(err)
	}
	fmt.Fprintf(stdout, "Operator running; waiting for the samples in namespace %s to become Ready...\n", demoNamespace)
	if err := waitReady(ctx, env.Client, objs, opts.ReadyTimeout); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if !opts.Verbose {
			return fmt.Errorf("%w\noperator log: %s", err, logPath)
		}
		return err
	}
	info, err := readInfo(ctx, env.Client, issuer, kubeconfig)
	if err != nil {
		return interrupted(err)
	}
	if info.Workload, err = setupWorkload(ctx, env.Client, env.Config, issuer, stateDir); err != nil {
		return interrupted(err)
	}
	fmt.Fprintf(stdout, "Ready in %s.\n\n", time.Since(started).Round(100*time.Millisecond))
	printInstructions(stdout, info, logPath, opts)
	envPath := filepath.Join(stateDir, credentialsFileName)
	if err := writeCredentials(envPath, info); err != nil {
		return interrupted(err)
	}
	defer func() { _ = os.Remove(envPath) }()

	if opts.onReady != nil {
		opts.onReady()
	}
	if opts.Check {
		if err := check(ctx, stdout, info); err != nil {
			return fmt.Errorf("demo check failed: %w", err)
		}
		fmt.Fprintln(stdout, "demo check passed")
		return nil
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping the operator and the control plane...")
	return nil
}

// listen opens the token server's listener on 127.0.0.1, on port or, when it
// is busy, on a free port (note says so).
func listen(port int) (ln net.Listener, note string, err error) {
	ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		return ln, "", nil
	}
	if port == 0 || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, "", fmt.Errorf("token server listener: %w", err)
	}
	if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, "", fmt.Errorf("token server listener: %w", err)
	}
	return ln, fmt.Sprintf("Port %d is busy; the token server uses port %d instead.", port, ln.Addr().(*net.TCPAddr).Port), nil
}

// startManager runs the operator (controllers and token server) until the
// returned function stops it.
func startManager(cfg *rest.Config, issuer string, ln net.Listener, maxFamilies int) (stop func() error, err error) {
	mgrCtx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	o := operator.DefaultOptions()
	o.Namespace, o.IssuerURL = operatorNamespace, issuer
	o.MetricsAddr, o.ProbeAddr, o.LeaderElection = "0", "0", false
	// run builds one manager, but a test process calls run more than once.
	o.SkipControllerNameValidation = true
	o.Token.Addr, o.Token.Listener, o.Token.Ready = ln.Addr().String(), ln, listening
	if maxFamilies > 0 {
		o.Token.MaxFamiliesPerUser = maxFamilies
	}
	mgr, err := operator.NewManager(mgrCtx, cfg, o)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("operator: %w", err)
			}
			return nil
		case <-time.After(time.Minute):
			return errors.New("the operator did not stop within a minute")
		}
	}
	select {
	case <-listening:
		return stop, nil
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("operator stopped at start: %w", err)
	case <-time.After(time.Minute):
		_ = stop()
		return nil, errors.New("the token server did not start listening within a minute")
	}
}

// applySamples creates every config/samples/oauth_*.yaml object in the demo
// namespace, with token Secrets added to two clients so the demo shows them.
func applySamples(ctx context.Context, c client.Client) ([]client.Object, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "oauth_*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no config/samples/oauth_*.yaml under %s", root)
	}
	decode := serializer.NewCodecFactory(operator.Scheme()).UniversalDeserializer().Decode
	var objs []client.Object
	patched := map[string]bool{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		obj, _, err := decode(raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		o, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not an object", file, obj)
		}
		o.SetNamespace(demoNamespace)
		if oc, ok := o.(*v1alpha1.OAuthClient); ok {
			switch oc.Name {
			case serviceClient:
				oc.Spec.TokenSecrets = append(oc.Spec.TokenSecrets, v1alpha1.TokenSecret{Name: serviceTokenSecret})
				patched[oc.Name] = true
			case cliClient:
				oc.Spec.TokenSecrets = append(oc.Spec.TokenSecrets, v1alpha1.TokenSecret{Name: userTokenSecret, User: demoUser})
				patched[oc.Name] = true
			}
		}
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("create %s %s from %s: %w", kind(o), o.GetName(), filepath.Base(file), err)
		}
		objs = append(objs, o)
	}
	for _, name := range []string{serviceClient, cliClient} {
		if !patched[name] {
			return nil, fmt.Errorf("config/samples has no OAuthClient %q, which the demo's commands use", name)
		}
	}
	return objs, nil
}

func kind(o client.Object) string {
	switch o.(type) {
	case *v1alpha1.OAuthClient:
		return "OAuthClient"
	case *v1alpha1.OAuthUser:
		return "OAuthUser"
	case *v1alpha1.OAuthResource:
		return "OAuthResource"
	}
	return fmt.Sprintf("%T", o)
}

// waitReady polls until every object is Ready and every token Secret holds a
// token, or the timeout passes; the error then names what is not ready and
// why.
func waitReady(ctx context.Context, c client.Client, objs []client.Object, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var pending []string
		for _, o := range objs {
			if why, err := notReady(ctx, c, o); err != nil {
				return err
			} else if why != "" {
				pending = append(pending, fmt.Sprintf("%s %s/%s: %s", kind(o), o.GetNamespace(), o.GetName(), why))
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not Ready after %s:\n  %s", timeout, strings.Join(pending, "\n  "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// notReady returns why o is not ready yet, or "".
func notReady(ctx context.Context, c client.Client, o client.Object) (string, error) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("get %s %s: %w", kind(o), o.GetName(), err)
	}
	var conds []metav1.Condition
	var tokenSecrets []v1alpha1.TokenSecretStatus
	want := 0
	switch x := o.(type) {
	case *v1alpha1.OAuthClient:
		conds, tokenSecrets, want = x.Status.Conditions, x.Status.TokenSecrets, len(x.Spec.TokenSecrets)
	case *v1alpha1.OAuthUser:
		conds = x.Status.Conditions
	case *v1alpha1.OAuthResource:
		conds = x.Status.Conditions
	}
	if why := conditionNotTrue(conds, v1alpha1.ConditionReady); why != "" {
		return why, nil
	}
	if want == 0 {
		return "", nil
	}
	if why := conditionNotTrue(conds, v1alpha1.ConditionTokensReady); why != "" {
		return why, nil
	}
	if len(tokenSecrets) < want {
		return fmt.Sprintf("%d of %d token Secrets reported", len(tokenSecrets), want), nil
	}
	for _, ts := range tokenSecrets {
		if !ts.Ready {
			return fmt.Sprintf("token Secret %s: %s: %s", ts.Name, ts.Reason, ts.Message), nil
		}
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: ts.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return "token Secret " + ts.Name + " not created yet", nil
			}
			return "", err
		}
		if len(s.Data[contract.KeyAccessToken]) == 0 {
			return "token Secret " + ts.Name + " has no access_token yet", nil
		}
	}
	return "", nil
}

func conditionNotTrue(conds []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return "no " + typ + " condition yet"
	case c.Status != metav1.ConditionTrue:
		return fmt.Sprintf("%s=%s (%s: %s)", typ, c.Status, c.Reason, c.Message)
	}
	return ""
}

// info is what the printed commands and the check use, read from the
// cluster.
type info struct {
	Kubeconfig, Issuer, DiscoveryURL string
	// Service is billing-service (client_credentials); CLI is reporting-cli
	// (password and refresh_token) used by User.
	Service, CLI clientCreds
	Username     string
	Password     string
	// Workload is the secretless client of make bench's assertion
	// scenarios.
	Workload *workloadCreds
}

type clientCreds struct {
	ID, Secret, TokenURL string
}

func readInfo(ctx context.Context, c client.Client, issuer, kubeconfig string) (*info, error) {
	in := &info{Kubeconfig: kubeconfig, Issuer: issuer, DiscoveryURL: issuer + "/.well-known/openid-configuration"}
	var err error
	if in.Service, err = readClient(ctx, c, serviceClient); err != nil {
		return nil, err
	}
	if in.CLI, err = readClient(ctx, c, cliClient); err != nil {
		return nil, err
	}
	var u v1alpha1.OAuthUser
	if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: demoUser}, &u); err != nil {
		return nil, fmt.Errorf("OAuthUser %s: %w", demoUser, err)
	}
	s, err := readSecret(ctx, c, u.Status.SecretName, contract.KeyUsername, contract.KeyPassword)
	if err != nil {
		return nil, err
	}
	in.Username, in.Password = s[contract.KeyUsername], s[contract.KeyPassword]
	return in, nil
}

func readClient(ctx context.Context, c client.Client, name string) (clientCreds, error) {
	var oc v1alpha1.OAuthClient
	if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: name}, &oc); err != nil {
		return clientCreds{}, fmt.Errorf("OAuthClient %s: %w", name, err)
	}
	s, err := readSecret(ctx, c, oc.Status.SecretName, contract.KeyClientID, contract.KeyClientSecret, contract.KeyTokenURL)
	if err != nil {
		return clientCreds{}, err
	}
	return clientCreds{ID: s[contract.KeyClientID], Secret: s[contract.KeyClientSecret], TokenURL: s[contract.KeyTokenURL]}, nil
}

// readSecret reads the given keys of a Secret in the demo namespace; each
// must be set.
func readSecret(ctx context.Context, c client.Client, name string, keys ...string) (map[string]string, error) {
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("Secret %s: %w", name, err)
	}
	out := map[string]string{}
	for _, k := range keys {
		v := string(s.Data[k])
		if v == "" {
			return nil, fmt.Errorf("Secret %s has no %s", name, k)
		}
		out[k] = v
	}
	return out, nil
}

// printInstructions prints what to run next, with real values.
func printInstructions(w io.Writer, in *info, logPath string, opts options) {
	svc, cli := in.Service, in.CLI
	extract := `sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p'`
	lines := []string{
		"Tokenwarden demo is running. Token server (issuer): " + in.Issuer,
		"",
		"Look at the cluster:",
		"  export KUBECONFIG=" + shellQuote(in.Kubeconfig),
		"  kubectl get oauthclients,oauthusers -n " + demoNamespace,
		"",
		"A token for the backend " + serviceClient + " (client_credentials):",
		fmt.Sprintf("  curl -s -u %s -d grant_type=client_credentials %s", shellQuote(svc.ID+":"+svc.Secret), svc.TokenURL),
		"",
		fmt.Sprintf("Sign in as %s through %s (password grant), then refresh:", in.Username, cliClient),
		fmt.Sprintf("  TOKENS=$(curl -s -u %s -d grant_type=password -d username=%s --data-urlencode password=%s -d %s %s); echo \"$TOKENS\"",
			shellQuote(cli.ID+":"+cli.Secret), shellQuote(in.Username), shellQuote(in.Password), shellQuote("scope="+passwordScope), cli.TokenURL),
		fmt.Sprintf("  curl -s -u %s -d grant_type=refresh_token -d \"refresh_token=$(echo \"$TOKENS\" | %s)\" %s",
			shellQuote(cli.ID+":"+cli.Secret), extract, cli.TokenURL),
		"",
		fmt.Sprintf("Workload tokens Tokenwarden keeps fresh in Secrets (%s; %s holds %s's tokens):", serviceTokenSecret, userTokenSecret, in.Username),
		"  kubectl get secret " + serviceTokenSecret + " -n " + demoNamespace + " -o jsonpath='{.data.access_token}' | base64 -d; echo",
		"",
		"OpenID discovery (it links the JWKS):",
		"  curl -s " + in.DiscoveryURL,
		"",
	}
	if !opts.Verbose {
		lines = append(lines, "Operator log: "+logPath)
	}
	if !opts.Check {
		lines = append(lines, "Press Ctrl-C to stop the demo and everything it started.")
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r)) {
			safe = false
			break
		}
	}
	if safe && s != "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// check runs the printed requests with net/http, as curl would send them.
func check(ctx context.Context, w io.Writer, in *info) error {
	hc := &http.Client{Timeout: 15 * time.Second}
	fmt.Fprintln(w, "\nChecking the commands above:")

	tok, err := postToken(ctx, hc, in.Service, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		return fmt.Errorf("client_credentials for %s: %w", serviceClient, err)
	}
	fmt.Fprintf(w, "  ok  client_credentials (%s): 200, access token for %ds\n", serviceClient, tok.ExpiresIn)

	tok, err = postToken(ctx, hc, in.CLI, url.Values{"grant_type": {"password"}, "username": {in.Username}, "password": {in.Password}, "scope": {passwordScope}})
	if err != nil {
		return fmt.Errorf("password grant for %s through %s: %w", in.Username, cliClient, err)
	}
	if tok.RefreshToken == "" {
		return fmt.Errorf("password grant for %s: no refresh_token although %q was asked for", in.Username, passwordScope)
	}
	fmt.Fprintf(w, "  ok  password (%s as %s): 200, scope %q, with a refresh token\n", cliClient, in.Username, tok.Scope)

	tok, err = postToken(ctx, hc, in.CLI, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if err != nil {
		return fmt.Errorf("refresh_token grant for %s: %w", cliClient, err)
	}
	fmt.Fprintf(w, "  ok  refresh_token (%s): 200, new access token for %ds\n", cliClient, tok.ExpiresIn)

	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, hc, in.DiscoveryURL, &disc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if disc.Issuer != in.Issuer {
		return fmt.Errorf("discovery: issuer %q, want %q", disc.Issuer, in.Issuer)
	}
	var jwks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, hc, disc.JWKSURI, &jwks); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	if len(jwks.Keys) == 0 {
		return errors.New("jwks: no keys published")
	}
	fmt.Fprintf(w, "  ok  discovery: issuer %s, %d signing keys published\n", disc.Issuer, len(jwks.Keys))
	return nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

func postToken(ctx context.Context, hc *http.Client, cc clientCreds, form url.Values) (*tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cc.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cc.ID, cc.Secret) // as curl -u sends it
	var tok tokenResponse
	if err := do(hc, req, &tok); err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, errors.New("200 without an access_token")
	}
	return &tok, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return do(hc, req, into)
}

func do(hc *http.Client, req *http.Request, into any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for cfg (server, CA, client
// certificate or token), with the demo namespace as default.
func writeKubeconfig(cfg *rest.Config, path string) error {
	server := cfg.Host
	if !strings.Contains(server, "://") {
		scheme := "https"
		if len(cfg.CAData) == 0 && cfg.CAFile == "" && !cfg.Insecure {
			scheme = "http"
		}
		server = scheme + "://" + server
	}
	const name = "tokenwarden-demo"
	kc := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = cfg.CAData
	cluster.CertificateAuthority = cfg.CAFile
	cluster.InsecureSkipTLSVerify = cfg.Insecure
	cluster.TLSServerName = cfg.ServerName
	auth := clientcmdapi.NewAuthInfo()
	auth.ClientCertificateData = cfg.CertData
	auth.ClientKeyData = cfg.KeyData
	auth.ClientCertificate = cfg.CertFile
	auth.ClientKey = cfg.KeyFile
	auth.Token = cfg.BearerToken
	auth.TokenFile = cfg.BearerTokenFile
	auth.Username = cfg.Username
	auth.Password = cfg.Password
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo, kctx.Namespace = name, name, demoNamespace
	kc.Clusters[name], kc.AuthInfos[name], kc.Contexts[name] = cluster, auth, kctx
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return os.Chmod(path, 0o600) // it holds a client key
}

// lock is the single-instance lock: an exclusive flock on STATE_DIR/demo.lock,
// which records the holder's pid and kubeconfig.
type lock struct {
	f    *os.File
	path string
}

// alreadyRunningError says another demo holds the lock.
type alreadyRunningError struct {
	PID        int
	Kubeconfig string
}

func (e *alreadyRunningError) Error() string {
	pid, kc := "unknown", e.Kubeconfig
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	if kc == "" {
		kc = "unknown"
	}
	return fmt.Sprintf("a Tokenwarden demo is already running (pid %s, kubeconfig %s); stop it with Ctrl-C in its terminal", pid, kc)
}

// acquireLock takes the lock of dir (creating dir), or returns an
// *alreadyRunningError naming the holder.
func acquireLock(dir string) (*lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, lockFileName)
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			defer f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, readHolder(f)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// A holder that just stopped removes the file: a lock on the file
		// we opened before that counts only if it is still the one at path.
		var held, current syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &held) == nil && syscall.Stat(path, &current) == nil &&
			held.Dev == current.Dev && held.Ino == current.Ino {
			return &lock{f: f, path: path}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("could not lock %s: it keeps being replaced", path)
}

// readHolder reads the holder's record, waiting briefly for a holder that
// has only just taken the lock to write it.
func readHolder(f *os.File) error {
	e := &alreadyRunningError{}
	for range 20 {
		raw, err := os.ReadFile(f.Name())
		if err == nil {
			for line := range strings.SplitSeq(string(raw), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "pid":
					e.PID, _ = strconv.Atoi(v)
				case "kubeconfig":
					e.Kubeconfig = v
				}
			}
			if e.PID > 0 {
				break
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return e
}

// record writes the holder's pid and kubeconfig into the lock file.
func (l *lock) record(pid int, kubeconfig string) error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(fmt.Sprintf("pid=%d\nkubeconfig=%s\n", pid, kubeconfig)), 0)
	return err
}

// release removes the lock file and drops the lock.
func (l *lock) release() {
	_ = os.Remove(l.path)
	_ = l.f.Close()
}

// credentialsFileName holds the demo's credentials as shell assignments, for
// scripts that drive the running demo (make bench). Written last, so its
// presence means the demo is ready; removed when the demo stops.
const credentialsFileName = "credentials.env"

func writeCredentials(path string, in *info) error {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"ISSUER", in.Issuer}, {"SERVICE_CLIENT_ID", in.Service.ID}, {"SERVICE_CLIENT_SECRET", in.Service.Secret},
		{"CLI_CLIENT_ID", in.CLI.ID}, {"CLI_CLIENT_SECRET", in.CLI.Secret}, {"USERNAME", in.Username}, {"PASSWORD", in.Password},
		{"DEMO_PID", strconv.Itoa(os.Getpid())},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if w := in.Workload; w != nil {
		for _, kv := range [][2]string{{"WORKLOAD_CLIENT_ID", w.ClientID}, {"WORKLOAD_SA_TOKEN_FILE", w.TokenFile}, {"WORKLOAD_KEY_FILE", w.KeyFile}, {"WORKLOAD_KEY_ID", w.KeyID}} {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return os.Rename(tmp, path)
}

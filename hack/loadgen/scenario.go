package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxBodyBytes bounds how much of a response is read.
const maxBodyBytes = 1 << 20

// Report is the result of a run (toJSON gives its -json shape).
type Report struct {
	URL         string
	Concurrency int
	// Duration is the time limit per scenario, "" when there is none;
	// Requests the request limit, 0 when there is none.
	Duration  string
	Requests  int
	Started   time.Time
	Scenarios []ScenarioResult
}

// ScenarioResult is one scenario's numbers. Latencies are of successful
// requests; errors are non-2xx answers, transport errors and 2xx answers
// without what the scenario needs (a token, active=true).
type ScenarioResult struct {
	Name      string
	Requests  int
	Successes int
	Errors    int
	Kinds     []ErrorKind
	// SetupErrors counts failed per-worker setups (the password grant before
	// refresh_token, the client_credentials grant before introspect), which
	// are not timed and not in Requests; SetupKinds says why.
	SetupErrors int
	SetupKinds  []ErrorKind
	// Reseeds counts refresh chains a worker restarted with a new password
	// grant after a failed refresh.
	Reseeds int
	Elapsed time.Duration
	Latency Latency
	// ServerCPU is the CPU time the -server-pid process used during the
	// timed part, 0 when not measured.
	ServerCPU time.Duration
}

// PerServerCore is requests per second of server CPU time.
func (s ScenarioResult) PerServerCore() float64 {
	if s.ServerCPU <= 0 {
		return 0
	}
	return float64(s.Requests) / s.ServerCPU.Seconds()
}

// RequestsPerSecond is completed requests (successful or not) per second.
func (s ScenarioResult) RequestsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// Run runs cfg's scenarios one after the other and reports on each. Progress
// lines go to progress (may be nil). The caller checks the target with
// checkTarget first; the connections are checked again here.
func Run(ctx context.Context, cfg config, progress io.Writer) (*Report, error) {
	if progress == nil {
		progress = io.Discard
	}
	t := newTarget(cfg)
	defer t.client.CloseIdleConnections()
	var err error
	if t.auth, err = loadAssertionAuth(cfg); err != nil {
		return nil, err
	}
	rep := &Report{URL: cfg.baseURL, Concurrency: cfg.concurrency, Requests: cfg.requests, Started: time.Now().UTC()}
	if cfg.duration > 0 {
		rep.Duration = cfg.duration.String()
	}
	for _, name := range cfg.scenarios {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(progress, "loadgen: %s: %d workers, %s\n", name, cfg.concurrency, bounds(cfg))
		res, err := runScenario(ctx, t, name)
		if err != nil {
			return rep, err
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	return rep, nil
}

func bounds(cfg config) string {
	var b []string
	if cfg.duration > 0 {
		b = append(b, "for "+cfg.duration.String())
	}
	if cfg.requests > 0 {
		b = append(b, "up to "+strconv.Itoa(cfg.requests)+" requests")
	}
	return strings.Join(b, ", ")
}

// target is the token server under load.
type target struct {
	cfg    config
	client *http.Client
	auth   assertionAuth
}

func newTarget(cfg config) *target {
	dialer := &net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}
	if !cfg.allowRemote {
		dialer.Control = loopbackOnly
	}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: the load is for the server itself
		DialContext:         dialer.DialContext,
		MaxIdleConns:        2 * cfg.concurrency,
		MaxIdleConnsPerHost: 2 * cfg.concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.timeout,
		DisableCompression:  true,
		// HTTP/1.1 keep-alive: each worker holds its own connection, as
		// independent clients would.
		ForceAttemptHTTP2: false,
	}
	if cfg.insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in, for self-signed test servers
	}
	return &target{cfg: cfg, client: &http.Client{
		Transport: tr,
		Timeout:   cfg.timeout,
		// A token server does not redirect; a redirect is reported as an
		// error rather than followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// tokenResponse is what the load generator needs from a token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// failure is a failed request; kind is its short, aggregatable description.
type failure struct{ kind string }

func (f *failure) Error() string { return f.kind }

func fail(format string, a ...any) error { return &failure{kind: fmt.Sprintf(format, a...)} }

// kindOf turns an error from a request into a short kind.
func kindOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.kind
	}
	var ne net.Error
	switch {
	case errors.Is(err, errNotLoopback):
		return "refused: not loopback"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port (EADDRNOTAVAIL)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed (EOF)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if len(msg) > 60 {
		msg = msg[:60] + "…"
	}
	return "transport: " + msg
}

// do sends req and reads the body; a non-2xx status is a failure whose kind
// is the status and, for an OAuth error body, its error code.
func (t *target) do(req *http.Request) ([]byte, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, err
	}
	// Drain what is left so the connection can be reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var oe struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" && len(oe.Error) <= 40 {
			return nil, fail("%d %s", resp.StatusCode, oe.Error)
		}
		return nil, fail("%d", resp.StatusCode)
	}
	return body, nil
}

// postForm posts a client-authenticated form: HTTP Basic with the form-encoded
// id and secret (RFC 6749 §2.3.1) for a confidential client, client_id in the
// body for a public one.
func (t *target) postForm(ctx context.Context, path string, form url.Values) ([]byte, error) {
	if t.cfg.clientSecret == "" {
		form.Set("client_id", t.cfg.clientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.baseURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if t.cfg.clientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(t.cfg.clientID), url.QueryEscape(t.cfg.clientSecret))
	}
	return t.do(req)
}

// token asks the token endpoint for a token with form.
func (t *target) token(ctx context.Context, form url.Values) (tokenResponse, error) {
	var tr tokenResponse
	body, err := t.postForm(ctx, "/oauth/token", form)
	if err != nil {
		return tr, err
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return tr, fail("malformed token response")
	}
	if tr.AccessToken == "" {
		return tr, fail("no access_token in response")
	}
	return tr, nil
}

func (t *target) clientCredentials(ctx context.Context) (tokenResponse, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if t.cfg.scope != "" {
		form.Set("scope", t.cfg.scope)
	}
	return t.token(ctx, form)
}

func (t *target) passwordGrant(ctx context.Context) (tokenResponse, error) {
	form := url.Values{"grant_type": {"password"}, "username": {t.cfg.username}, "password": {t.cfg.password}}
	if t.cfg.scope != "" {
		form.Set("scope", t.cfg.scope)
	}
	return t.token(ctx, form)
}

func (t *target) refresh(ctx context.Context, refreshToken string) (tokenResponse, error) {
	return t.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

func (t *target) jwks(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.cfg.baseURL+"/.well-known/jwks.json", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	body, err := t.do(req)
	if err != nil {
		return err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(body, &set) != nil || len(set.Keys) == 0 {
		return fail("no keys in JWKS")
	}
	return nil
}

func (t *target) introspect(ctx context.Context, token string) error {
	body, err := t.postForm(ctx, "/oauth/introspect", url.Values{"token": {token}})
	if err != nil {
		return err
	}
	var ir struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &ir); err != nil {
		return fail("malformed introspection response")
	}
	if !ir.Active {
		return fail("active=false")
	}
	return nil
}

// worker is one concurrent client of a scenario, with its own tokens.
type worker struct {
	t   *target
	rec *recorder
	// setupKinds counts this worker's failed setups.
	setupKinds map[string]int
	reseeds    int
	// refreshToken is the latest token of this worker's refresh chain; it
	// is replaced by every rotation and never presented twice.
	refreshToken string
	accessToken  string
}

// setup prepares a worker before the clock starts.
func (w *worker) setup(ctx context.Context, scenario string) error {
	var err error
	switch scenario {
	case scRefreshToken:
		var tr tokenResponse
		if tr, err = w.t.passwordGrant(ctx); err == nil && tr.RefreshToken == "" {
			err = fail("password grant gave no refresh_token (does the client allow refresh_token?)")
		}
		w.refreshToken = tr.RefreshToken
	case scIntrospect:
		var tr tokenResponse
		tr, err = w.t.clientCredentials(ctx)
		w.accessToken = tr.AccessToken
	}
	if err != nil && ctx.Err() == nil {
		w.setupKinds["setup: "+kindOf(err)]++
	}
	return err
}

// once sends one request of the scenario.
func (w *worker) once(ctx context.Context, scenario string) error {
	switch scenario {
	case scClientCredentials:
		_, err := w.t.clientCredentials(ctx)
		return err
	case scPassword:
		_, err := w.t.passwordGrant(ctx)
		return err
	case scRefreshToken:
		presented := w.refreshToken
		// Whatever happens, the presented token is spent: on success it is
		// superseded, on failure its family may be revoked or may have
		// rotated without our seeing the answer.
		w.refreshToken = ""
		tr, err := w.t.refresh(ctx, presented)
		if err != nil {
			return err
		}
		if tr.RefreshToken == "" {
			return fail("no refresh_token in response")
		}
		w.refreshToken = tr.RefreshToken
		return nil
	case scJWKS:
		return w.t.jwks(ctx)
	case scIntrospect:
		return w.t.introspect(ctx, w.accessToken)
	case scServiceAccount, scPrivateKeyJWT:
		return w.t.onceAssertion(ctx, scenario)
	}
	return fmt.Errorf("unknown scenario %q", scenario)
}

// runScenario runs one scenario: every worker sets up, then all start
// together and send requests until the time or the request budget is spent.
// In-flight requests finish (bounded by the request timeout); an interrupted
// run (ctx done) discards them.
func runScenario(ctx context.Context, t *target, scenario string) (ScenarioResult, error) {
	cfg := t.cfg
	n := cfg.concurrency
	if cfg.requests > 0 && cfg.requests < n {
		n = cfg.requests // no worker without a request to send
	}
	perWorker := max(cfg.maxSamples/n, 1)
	workers := make([]*worker, n)
	ready := make([]bool, n)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{t: t, rec: newRecorder(perWorker), setupKinds: map[string]int{}}
		wg.Go(func() { ready[i] = workers[i].setup(ctx, scenario) == nil })
	}
	wg.Wait()

	var claimed atomic.Int64
	cpu0, cpuErr := processCPU(cfg.serverPID)
	start := time.Now()
	var deadline time.Time
	if cfg.duration > 0 {
		deadline = start.Add(cfg.duration)
	}
	for i, w := range workers {
		if !ready[i] {
			continue
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				if cfg.requests > 0 && claimed.Add(1) > int64(cfg.requests) {
					return
				}
				t0 := time.Now()
				err := w.once(ctx, scenario)
				d := time.Since(t0)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					w.rec.record(d, "")
					continue
				}
				w.rec.record(d, kindOf(err))
				if scenario == scRefreshToken {
					// Start a new chain: presenting the old token again
					// would be a replay and revoke the family.
					w.reseeds++
					if w.setup(ctx, scenario) != nil {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := ScenarioResult{Name: scenario, Elapsed: elapsed}
	if cpu1, err := processCPU(cfg.serverPID); err == nil && cpuErr == nil {
		res.ServerCPU = cpu1 - cpu0
	}
	recs := make([]*recorder, len(workers))
	setup := map[string]int{}
	for i, w := range workers {
		recs[i] = w.rec
		res.Reseeds += w.reseeds
		for k, n := range w.setupKinds {
			setup[k] += n
			res.SetupErrors += n
		}
	}
	res.Requests, res.Successes, res.Kinds, res.Latency = merge(recs)
	res.Errors = res.Requests - res.Successes
	setupRec := newRecorder(1)
	for k, n := range setup {
		setupRec.addKind(k, n)
	}
	_, _, res.SetupKinds, _ = merge([]*recorder{setupRec})
	return res, nil
}

// processCPU is the user+system CPU time of pid from /proc (clock ticks of
// 1/100 s, the Linux USER_HZ); 0 and no error when pid is 0.
func processCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials of the fake server. The id and secret hold characters that
// HTTP Basic must form-encode (RFC 6749 §2.3.1).
const (
	testClientID = "demo/load client"
	testSecret   = "s3cr:t+/=%"
	testUser     = "alice"
	testPassword = "correct horse"
)

// fakeServer imitates the token server: client authentication (Basic with
// form-encoded credentials or client_secret_post), the client_credentials,
// password and refresh_token grants, JWKS and introspection. Refresh tokens
// rotate on every use and presenting a superseded one is a replay: the family
// is revoked and the answer is 400 invalid_grant, like the real server.
type fakeServer struct {
	mu sync.Mutex
	// failRefreshEvery > 0 answers every n-th refresh with a 500 after
	// rotating, so the client never sees its new token.
	failRefreshEvery int

	seq       int
	families  map[string]*family // every refresh token ever issued -> its family
	access    map[string]bool
	grants    map[string]int // successful grants by type
	refreshes int            // refresh attempts
	replays   int            // superseded refresh tokens presented
	jwks      int
	intro     int
	conns     int // connections accepted
}

type family struct {
	current string
	revoked bool
}

func newFakeServer(t *testing.T) (*fakeServer, *httptest.Server) {
	t.Helper()
	f := &fakeServer{families: map[string]*family{}, access: map[string]bool{}, grants: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", f.token)
	mux.HandleFunc("POST /oauth/introspect", f.introspect)
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.jwks++
		f.mu.Unlock()
		writeJSONBody(w, http.StatusOK, map[string]any{"keys": []map[string]string{{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "x", "y": "y"}}})
	})
	srv := httptest.NewUnstartedServer(mux) // listens on 127.0.0.1
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

func writeJSONBody(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func oauthErr(w http.ResponseWriter, status int, code string) {
	writeJSONBody(w, status, map[string]string{"error": code})
}

// authenticate checks the client like the token server does.
func (f *fakeServer) authenticate(r *http.Request) bool {
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if rawID, rawSecret, ok := r.BasicAuth(); ok {
		if secret != "" {
			return false // authenticated twice
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(rawID)
		secret, err2 = url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil {
			return false
		}
	}
	return id == testClientID && secret == testSecret
}

func (f *fakeServer) newToken(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%d", prefix, f.seq)
}

func (f *fakeServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if !f.authenticate(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		oauthErr(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := map[string]any{"token_type": "Bearer", "expires_in": 3600}
	gt := r.PostForm.Get("grant_type")
	switch gt {
	case "client_credentials":
	case "password":
		if r.PostForm.Get("username") != testUser || r.PostForm.Get("password") != testPassword {
			oauthErr(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		rt := f.newToken("rt")
		f.families[rt] = &family{current: rt}
		resp["refresh_token"] = rt
	case "refresh_token":
		f.refreshes++
		presented := r.PostForm.Get("refresh_token")
		fam := f.families[presented]
		switch {
		case fam == nil || fam.revoked:
			oauthErr(w, http.StatusBadRequest, "invalid_grant")
			return
		case fam.current != presented:
			f.replays++
			fam.revoked = true
			oauthErr(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		next := f.newToken("rt")
		fam.current = next
		f.families[next] = fam
		if f.failRefreshEvery > 0 && f.refreshes%f.failRefreshEvery == 0 {
			// Rotated, but the answer is lost: the old token is spent.
			oauthErr(w, http.StatusInternalServerError, "server_error")
			return
		}
		resp["refresh_token"] = next
	default:
		oauthErr(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	at := f.newToken("at")
	f.access[at] = true
	f.grants[gt]++
	resp["access_token"] = at
	writeJSONBody(w, http.StatusOK, resp)
}

func (f *fakeServer) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if !f.authenticate(r) {
		oauthErr(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intro++
	writeJSONBody(w, http.StatusOK, map[string]any{"active": f.access[r.PostForm.Get("token")]})
}

func (f *fakeServer) snapshot() (grants map[string]int, refreshes, replays, jwks, intro int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := map[string]int{}
	for k, v := range f.grants {
		g[k] = v
	}
	return g, f.refreshes, f.replays, f.jwks, f.intro
}

func testConfig(base string) config {
	return config{
		baseURL: base, clientID: testClientID, clientSecret: testSecret, username: testUser, password: testPassword,
		scenarios: allScenarios, concurrency: 4, duration: time.Minute, requests: 60, timeout: 5 * time.Second,
		maxSamples: defaultMaxSamples,
	}
}

func byName(t *testing.T, rep *Report) map[string]ScenarioResult {
	t.Helper()
	m := map[string]ScenarioResult{}
	for _, s := range rep.Scenarios {
		m[s.Name] = s
	}
	return m
}

func checkOrdered(t *testing.T, s ScenarioResult) {
	t.Helper()
	l := s.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%s: percentiles not ordered: p50 %v p90 %v p99 %v max %v", s.Name, l.P50, l.P90, l.P99, l.Max)
	}
	if l.Min > l.P50 || l.Mean <= 0 || l.Mean > l.Max {
		t.Errorf("%s: min %v mean %v out of range (p50 %v, max %v)", s.Name, l.Min, l.Mean, l.P50, l.Max)
	}
	if !l.Exact || l.Samples != s.Successes {
		t.Errorf("%s: want exact percentiles over %d samples, got exact=%v samples=%d", s.Name, s.Successes, l.Exact, l.Samples)
	}
}

func TestRunAllScenarios(t *testing.T) {
	f, srv := newFakeServer(t)
	cfg := testConfig(srv.URL)
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, rep)
	if len(rep.Scenarios) != len(allScenarios) {
		t.Fatalf("ran %d scenarios, want %d", len(rep.Scenarios), len(allScenarios))
	}
	for _, name := range allScenarios {
		s := got[name]
		if s.Requests != cfg.requests || s.Successes != cfg.requests || s.Errors != 0 || len(s.Kinds) != 0 {
			t.Errorf("%s: requests %d successes %d errors %d kinds %v; want %d, %d, 0, none", name, s.Requests, s.Successes, s.Errors, s.Kinds, cfg.requests, cfg.requests)
		}
		if s.SetupErrors != 0 || s.Reseeds != 0 {
			t.Errorf("%s: setup errors %d %v, reseeds %d", name, s.SetupErrors, s.SetupKinds, s.Reseeds)
		}
		if s.RequestsPerSecond() <= 0 || s.Elapsed <= 0 {
			t.Errorf("%s: req/s %v elapsed %v", name, s.RequestsPerSecond(), s.Elapsed)
		}
		checkOrdered(t, s)
	}
	grants, refreshes, replays, jwks, intro := f.snapshot()
	// Setup: one password grant per refresh_token worker, one
	// client_credentials grant per introspect worker.
	if want := cfg.requests + cfg.concurrency; grants["password"] != want {
		t.Errorf("password grants = %d, want %d", grants["password"], want)
	}
	if want := cfg.requests + cfg.concurrency; grants["client_credentials"] != want {
		t.Errorf("client_credentials grants = %d, want %d", grants["client_credentials"], want)
	}
	if refreshes != cfg.requests || grants["refresh_token"] != cfg.requests || replays != 0 {
		t.Errorf("refreshes %d (ok %d), replays %d; want %d, %d, 0: every worker must chain its own rotated tokens",
			refreshes, grants["refresh_token"], replays, cfg.requests, cfg.requests)
	}
	if jwks != cfg.requests || intro != cfg.requests {
		t.Errorf("jwks %d introspections %d, want %d each", jwks, intro, cfg.requests)
	}
	// Keep-alive: about one connection per worker for the whole run, not one
	// per request (the transport may dial a spare while a connection frees up).
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	if conns > 2*cfg.concurrency {
		t.Errorf("%d connections for %d requests from %d workers: keep-alive is not working", conns, len(allScenarios)*cfg.requests+2*cfg.concurrency, cfg.concurrency)
	}
	t.Logf("%d connections accepted", conns)
}

// TestFakeServerDetectsReuse proves the fake has teeth: presenting a
// superseded refresh token fails and revokes the family.
func TestFakeServerDetectsReuse(t *testing.T) {
	f, srv := newFakeServer(t)
	tg := newTarget(testConfig(srv.URL))
	ctx := context.Background()
	tr, err := tg.passwordGrant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := tr.RefreshToken
	tr, err = tg.refresh(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	second := tr.RefreshToken
	if _, err := tg.refresh(ctx, first); kindOf(err) != "400 invalid_grant" {
		t.Fatalf("reusing a superseded token: got %v, want 400 invalid_grant", err)
	}
	if _, err := tg.refresh(ctx, second); kindOf(err) != "400 invalid_grant" {
		t.Fatalf("the family should be revoked after a replay: got %v", err)
	}
	if _, _, replays, _, _ := f.snapshot(); replays != 1 {
		t.Fatalf("replays = %d, want 1", replays)
	}
}

// TestRefreshRecoversWithoutReplay: when a refresh fails after the server
// rotated, the worker must not present the spent token again; it starts a
// new chain with the password grant.
func TestRefreshRecoversWithoutReplay(t *testing.T) {
	f, srv := newFakeServer(t)
	f.failRefreshEvery = 5
	cfg := testConfig(srv.URL)
	cfg.scenarios = []string{scRefreshToken}
	cfg.requests = 100
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Scenarios[0]
	_, refreshes, replays, _, _ := f.snapshot()
	if replays != 0 {
		t.Fatalf("%d replays: a worker presented a spent refresh token", replays)
	}
	if s.Requests != 100 || refreshes != 100 || s.Errors != 20 || s.Reseeds != 20 || s.SetupErrors != 0 {
		t.Fatalf("requests %d refreshes %d errors %d reseeds %d setup errors %d; want 100, 100, 20, 20, 0", s.Requests, refreshes, s.Errors, s.Reseeds, s.SetupErrors)
	}
	if len(s.Kinds) != 1 || s.Kinds[0] != (ErrorKind{Kind: "500 server_error", Count: 20}) {
		t.Fatalf("kinds = %v", s.Kinds)
	}
}

func TestRequestsFewerThanWorkers(t *testing.T) {
	f, srv := newFakeServer(t)
	cfg := testConfig(srv.URL)
	cfg.concurrency, cfg.requests = 8, 3
	cfg.scenarios = []string{scJWKS, scRefreshToken}
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Scenarios {
		if s.Requests != 3 || s.Errors != 0 {
			t.Errorf("%s: requests %d errors %d, want 3, 0", s.Name, s.Requests, s.Errors)
		}
	}
	// Only as many workers as requests: 3 password grants to set up.
	if grants, _, _, _, _ := f.snapshot(); grants["password"] != 3 {
		t.Errorf("password grants = %d, want 3", grants["password"])
	}
}

func TestDurationBound(t *testing.T) {
	_, srv := newFakeServer(t)
	cfg := testConfig(srv.URL)
	cfg.scenarios = []string{scJWKS}
	cfg.requests, cfg.duration = 0, 300*time.Millisecond
	start := time.Now()
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	s := rep.Scenarios[0]
	if s.Requests == 0 || s.Errors != 0 {
		t.Fatalf("requests %d errors %d", s.Requests, s.Errors)
	}
	if s.Elapsed < cfg.duration || took > 5*time.Second {
		t.Fatalf("elapsed %v (wall %v) for a %v run", s.Elapsed, took, cfg.duration)
	}
	checkOrdered(t, s)
}

func TestRunCommandJSON(t *testing.T) {
	f, srv := newFakeServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"-url", srv.URL, "-client-id", testClientID, "-client-secret", testSecret,
		"-username", testUser, "-password", testPassword, "-concurrency", "3", "-requests", "25", "-json",
	}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var out jsonReport
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, stdout.String())
	}
	if out.URL != srv.URL || out.Concurrency != 3 || out.Requests != 25 || len(out.Scenarios) != len(allScenarios) {
		t.Fatalf("header: %+v", out)
	}
	for i, s := range out.Scenarios {
		if s.Name != allScenarios[i] || s.Requests != 25 || s.Successes != 25 || s.Errors != 0 || s.ErrorKinds == nil {
			t.Errorf("scenario %d: %+v", i, s)
		}
		l := s.LatencyMS
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) || s.RequestsPerSecond <= 0 {
			t.Errorf("%s: latencies %+v, req/s %v", s.Name, l, s.RequestsPerSecond)
		}
	}
	if _, _, replays, _, _ := f.snapshot(); replays != 0 {
		t.Fatalf("replays = %d", replays)
	}
}

func TestRunCommandTable(t *testing.T) {
	_, srv := newFakeServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", srv.URL + "/", "-scenarios", "jwks, client_credentials",
		"-client-id", testClientID, "-client-secret", testSecret, "-requests", "10", "-concurrency", "2"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"SCENARIO", "REQUESTS", "ERRORS", "REQ/S", "P50", "P90", "P99", "MAX", "\njwks ", "\nclient_credentials "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "\njwks ") > strings.Index(out, "\nclient_credentials ") {
		t.Errorf("scenarios should run in the order given:\n%s", out)
	}
	t.Logf("\n%s", out)
}

func TestEveryRequestFailedExitsNonZero(t *testing.T) {
	_, srv := newFakeServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", srv.URL, "-scenarios", "client_credentials,jwks",
		"-client-id", testClientID, "-client-secret", "wrong", "-requests", "10", "-json"}, &stdout, &stderr)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr.String())
	}
	var out jsonReport
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	cc, jw := out.Scenarios[0], out.Scenarios[1]
	if cc.Requests != 10 || cc.Errors != 10 || len(cc.ErrorKinds) != 1 || cc.ErrorKinds[0] != (ErrorKind{Kind: "401 invalid_client", Count: 10}) {
		t.Fatalf("client_credentials: %+v", cc)
	}
	if jw.Errors != 0 || jw.Successes != 10 {
		t.Fatalf("jwks: %+v", jw)
	}
	if !strings.Contains(stderr.String(), "client_credentials: every request failed") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}

func TestSetupFailure(t *testing.T) {
	_, srv := newFakeServer(t)
	cfg := testConfig(srv.URL)
	cfg.password = "wrong"
	cfg.scenarios = []string{scRefreshToken}
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Scenarios[0]
	if s.Requests != 0 || s.Successes != 0 || s.SetupErrors != cfg.concurrency ||
		len(s.SetupKinds) != 1 || s.SetupKinds[0].Kind != "setup: 400 invalid_grant" {
		t.Fatalf("%+v", s)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", srv.URL, "-scenarios", "refresh_token", "-client-id", testClientID,
		"-client-secret", testSecret, "-username", testUser, "-password", "wrong", "-requests", "5"}, &stdout, &stderr)
	if code != exitFailed || !strings.Contains(stderr.String(), "every worker's setup failed (setup: 400 invalid_grant×5)") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "failed worker setups") {
		t.Fatalf("the table should say why nothing ran:\n%s", stdout.String())
	}
}

func TestBadFlags(t *testing.T) {
	cases := map[string][]string{
		"unknown scenario":      {"-scenarios", "implicit"},
		"remote url":            {"-url", "http://example.com", "-scenarios", "jwks"},
		"private url":           {"-url", "http://10.0.0.1:8443", "-scenarios", "jwks"},
		"zero concurrency":      {"-concurrency", "0"},
		"negative requests":     {"-requests", "-1"},
		"unbounded":             {"-duration", "0"},
		"password without user": {"-scenarios", "password", "-client-id", "x"},
		"introspect no secret":  {"-scenarios", "introspect", "-client-id", "x"},
		"half user":             {"-username", "alice"},
		"bad scheme":            {"-url", "ftp://127.0.0.1/"},
		"stray argument":        {"-scenarios", "jwks", "extra"},
		"undefined flag":        {"-nope"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != exitBadFlags {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitBadFlags, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout: %s", stdout.String())
			}
		})
	}
}

func TestDefaultScenarios(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{nil, []string{scJWKS}},
		{[]string{"-client-id", "c", "-client-secret", "s"}, []string{scClientCredentials, scJWKS, scIntrospect}},
		{[]string{"-client-id", "c", "-username", "u", "-password", "p"}, []string{scPassword, scRefreshToken, scJWKS}},
		{[]string{"-client-id", "c", "-client-secret", "s", "-username", "u", "-password", "p"}, allScenarios},
		{[]string{"-scenarios", "all", "-client-id", "c", "-client-secret", "s", "-username", "u", "-password", "p"}, allScenarios},
	}
	for _, c := range cases {
		cfg, err := parseFlags(c.args, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if fmt.Sprint(cfg.scenarios) != fmt.Sprint(c.want) {
			t.Errorf("%v: scenarios %v, want %v", c.args, cfg.scenarios, c.want)
		}
		if cfg.concurrency != 8 || cfg.duration != 10*time.Second || cfg.requests != 0 || cfg.baseURL != "http://127.0.0.1:8443" {
			t.Errorf("defaults: %+v", cfg)
		}
	}
}

func TestLoopbackGuard(t *testing.T) {
	fake := func(_ context.Context, host string) ([]net.IPAddr, error) {
		switch host {
		case "localhost":
			return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("::1")}}, nil
		case "example.com":
			return []net.IPAddr{{IP: net.ParseIP("93.184.215.14")}}, nil
		case "split.test":
			return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("10.0.0.1")}}, nil
		}
		return nil, errors.New("no such host")
	}
	accept := []string{"http://127.0.0.1:8443", "http://127.3.4.5", "http://[::1]:8443/", "https://localhost:8443", "http://LOCALHOST"}
	reject := []string{"http://example.com", "http://10.0.0.1", "http://10.0.0.1:8443", "http://[2001:db8::1]:80", "http://0.0.0.0:8443",
		"http://split.test", "http://unknown.invalid", "http://192.168.1.1"}
	for _, u := range accept {
		lookup := fake
		if strings.Contains(u, "LOCALHOST") {
			lookup = func(ctx context.Context, host string) ([]net.IPAddr, error) { return fake(ctx, strings.ToLower(host)) }
		}
		if err := checkTarget(context.Background(), u, false, lookup); err != nil {
			t.Errorf("%s rejected: %v", u, err)
		}
	}
	for _, u := range reject {
		err := checkTarget(context.Background(), u, false, fake)
		if err == nil {
			t.Errorf("%s accepted", u)
		} else if !strings.Contains(err.Error(), "-allow-remote") {
			t.Errorf("%s: the error should name -allow-remote: %v", u, err)
		}
		if err := checkTarget(context.Background(), u, true, fake); err != nil {
			t.Errorf("%s with -allow-remote: %v", u, err)
		}
	}
	// The system resolver: localhost is loopback, and example.com is refused
	// whether it resolves (to a public address) or not (no network).
	for _, u := range []string{"http://localhost:8443", "http://127.0.0.1", "http://[::1]"} {
		if err := checkTarget(context.Background(), u, false, nil); err != nil {
			t.Errorf("%s rejected by the system resolver check: %v", u, err)
		}
	}
	for _, u := range []string{"http://example.com", "http://10.0.0.1"} {
		if err := checkTarget(context.Background(), u, false, nil); err == nil {
			t.Errorf("%s accepted by the system resolver check", u)
		}
	}
}

func TestDialGuard(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8443", "[::1]:8443", "127.9.9.9:1"} {
		if err := loopbackOnly("tcp", a, nil); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{"10.0.0.1:8443", "[2001:db8::1]:443", "93.184.215.14:80"} {
		if err := loopbackOnly("tcp", a, nil); !errors.Is(err, errNotLoopback) {
			t.Errorf("%s: got %v, want errNotLoopback", a, err)
		}
	}
	// End to end: without -allow-remote the client never connects to a
	// non-loopback address, even if the URL check were bypassed.
	cfg := testConfig("http://10.0.0.1:9")
	cfg.scenarios, cfg.requests, cfg.concurrency = []string{scJWKS}, 5, 2
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Scenarios[0]
	if s.Errors != 5 || len(s.Kinds) != 1 || s.Kinds[0].Kind != "refused: not loopback" {
		t.Fatalf("%+v", s)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("http://10.0.0.1/.well-known/jwks.json", http.StatusFound))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.scenarios, cfg.requests = []string{scJWKS}, 4
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Scenarios[0]; s.Errors != 4 || s.Kinds[0].Kind != "302" {
		t.Fatalf("%+v", s)
	}
}

func TestPercentileExact(t *testing.T) {
	r := newRecorder(1000)
	for i := 100; i >= 1; i-- { // unsorted input
		r.record(time.Duration(i)*time.Millisecond, "")
	}
	r.record(time.Second, "400 invalid_grant")
	requests, successes, kinds, l := merge([]*recorder{r, newRecorder(10)})
	if requests != 101 || successes != 100 || len(kinds) != 1 || kinds[0].Count != 1 {
		t.Fatalf("requests %d successes %d kinds %v", requests, successes, kinds)
	}
	want := Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond,
		Min: time.Millisecond, Mean: 50500 * time.Microsecond, Samples: 100, Exact: true}
	if l != want {
		t.Fatalf("got %+v\nwant %+v", l, want)
	}
	if p := percentile([]time.Duration{7}, 99); p != 7 {
		t.Fatalf("single value p99 = %v", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Fatalf("empty p50 = %v", p)
	}
}

func TestReservoirBounded(t *testing.T) {
	a, b := newRecorder(100), newRecorder(100)
	for i := 1; i <= 10000; i++ {
		a.record(time.Duration(i)*time.Microsecond, "")
	}
	for i := 1; i <= 1000; i++ {
		b.record(time.Duration(i)*time.Microsecond, "")
	}
	if len(a.samples) != 100 || len(b.samples) != 100 {
		t.Fatalf("reservoirs hold %d and %d samples, want at most 100", len(a.samples), len(b.samples))
	}
	_, successes, _, l := merge([]*recorder{a, b})
	// a kept 1% of its latencies, so b contributes 1% of its 1000 too.
	if successes != 11000 || l.Exact || l.Samples != 110 || l.Max != 10*time.Millisecond || l.Min != time.Microsecond {
		t.Fatalf("successes %d, latency %+v", successes, l)
	}
	if !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("unordered %+v", l)
	}
}

func TestErrorKinds(t *testing.T) {
	r := newRecorder(1)
	for i := range maxErrorKinds + 5 {
		r.record(0, fmt.Sprintf("kind-%d", i))
	}
	if len(r.kinds) != maxErrorKinds+1 || r.kinds["other"] != 5 {
		t.Fatalf("kinds %v", r.kinds)
	}
	if got := kindSummary([]ErrorKind{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}, {"e", 1}}); got != "a×3, b×2, c×1, +2 more" {
		t.Fatalf("summary %q", got)
	}
	if got := kindOf(&url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: context.DeadlineExceeded}); got != "timeout" {
		t.Fatalf("kindOf deadline = %q", got)
	}
}

func TestProcessCPUOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the measured CPU time moves by 50 ms; on a busy machine
	// that takes longer in wall time, never forever.
	deadline := time.Now().Add(20 * time.Second)
	x := 0
	for {
		for i := 0; i < 1_000_000; i++ {
			x += i * i
		}
		after, err := processCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after-before >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s of spinning measured as %v of CPU", after-before)
		}
	}
	_ = x
	if d, err := processCPU(0); d != 0 || err != nil {
		t.Fatalf("pid 0: %v %v", d, err)
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Fatal("no error for a pid that does not exist")
	}
}

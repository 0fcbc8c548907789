package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDemoCheck runs the whole demo with -check on its own control plane. While
// it runs, a second demo on the same state directory must refuse to start,
// and the printed commands must work when pasted into a shell. Afterwards
// nothing may be left: no lock, no kubeconfig, no kube-apiserver.
func TestDemoCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	// testenv.Start sets KUBEBUILDER_ASSETS when it is unset.
	t.Setenv("KUBEBUILDER_ASSETS", os.Getenv("KUBEBUILDER_ASSETS"))
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, kubeconfigFileName)

	var out syncBuffer
	var second error
	var secondOut bytes.Buffer
	var apiServer string
	opts := options{StateDir: dir, Port: 0, Check: true, ReadyTimeout: 2 * time.Minute}
	opts.onReady = func() {
		second = run(ctx, options{StateDir: dir, Port: 0}, &secondOut)
		kc, err := clientcmd.LoadFromFile(kubeconfig)
		if err != nil {
			t.Errorf("kubeconfig written by the demo: %v", err)
			return
		}
		apiServer = kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server
		runPrintedCommands(t, out.String(), kubeconfig)
	}
	err := run(ctx, opts, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo -check: %v", err)
	}

	text := out.String()
	for _, want := range []string{
		"export KUBECONFIG=" + shellQuote(kubeconfig),
		"kubectl get oauthclients,oauthusers -n demo",
		"curl -s -u demo.billing-service:",
		"-d grant_type=client_credentials http://127.0.0.1:",
		"-d grant_type=password -d username=alice --data-urlencode password=",
		"'scope=openid offline_access reports.read'",
		"-d grant_type=refresh_token",
		"kubectl get secret billing-service-token -n demo -o jsonpath='{.data.access_token}' | base64 -d",
		"/.well-known/openid-configuration",
		"demo check passed",
		"Tokenwarden demo stopped",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	var running *alreadyRunningError
	switch {
	case !errors.As(second, &running):
		t.Errorf("second demo on the same state directory: got %v, want an already-running error", second)
	default:
		msg := second.Error()
		for _, want := range []string{"a Tokenwarden demo is already running", "pid " + strconv.Itoa(os.Getpid()), "kubeconfig " + kubeconfig, "Ctrl-C"} {
			if !strings.Contains(msg, want) {
				t.Errorf("already-running message %q lacks %q", msg, want)
			}
		}
	}
	if secondOut.Len() != 0 {
		t.Errorf("the refused second demo printed %q", secondOut.String())
	}

	for _, f := range []string{lockFileName, kubeconfigFileName} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the state directory after the demo stopped (stat: %v)", f, err)
		}
	}
	if apiServer == "" {
		t.Fatal("no API server address seen")
	}
	u, err := url.Parse(apiServer)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Errorf("kube-apiserver still answers on %s after the demo stopped", u.Host)
	}
	l, err := acquireLock(dir)
	if err != nil {
		t.Fatalf("lock after the demo stopped: %v", err)
	}
	l.release()
}

// TestDemoReadyTimeout: when the samples do not become Ready in time, the
// demo says what is pending and still stops everything it started.
func TestDemoReadyTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	t.Setenv("KUBEBUILDER_ASSETS", os.Getenv("KUBEBUILDER_ASSETS"))
	dir := t.TempDir()
	var out syncBuffer
	err := run(t.Context(), options{StateDir: dir, Port: 0, Check: true, ReadyTimeout: time.Nanosecond}, &out)
	if err == nil || !strings.Contains(err.Error(), "not Ready after") || !strings.Contains(err.Error(), "OAuthClient demo/") {
		t.Fatalf("got %v, want a not-Ready error naming the pending objects\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "demo check passed") {
		t.Error("check reported as passed")
	}
	for _, f := range []string{lockFileName, kubeconfigFileName} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the state directory after the demo failed (stat: %v)", f, err)
		}
	}
}

// runPrintedCommands pastes the printed curl (and, when kubectl is
// installed, kubectl) commands into bash.
func runPrintedCommands(t *testing.T, output, kubeconfig string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("curl not installed; the printed commands are checked with net/http only")
		return
	}
	_, kubectlErr := exec.LookPath("kubectl")
	var script []string
	for line := range strings.SplitSeq(output, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "curl "), strings.HasPrefix(line, "TOKENS="):
			script = append(script, line)
		case strings.HasPrefix(line, "kubectl get secret") && kubectlErr == nil:
			script = append(script, line)
		}
	}
	want := 4 // client_credentials, password, refresh_token, discovery
	if kubectlErr == nil {
		want++ // the workload token Secret
	}
	if len(script) != want {
		t.Errorf("found %d commands to paste, want %d:\n%s", len(script), want, strings.Join(script, "\n"))
		return
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("printed commands failed: %v\n%s", err, got)
		return
	}
	// client_credentials, the password grant (echoed) and the refresh.
	if n := strings.Count(string(got), `"access_token":"`); n != 3 {
		t.Errorf("printed curl commands returned %d access tokens, want 3:\n%s", n, got)
	}
	if !strings.Contains(string(got), `"token_endpoint"`) {
		t.Errorf("discovery command did not return a discovery document:\n%s", got)
	}
	if kubectlErr == nil && !strings.Contains(string(got), "\neyJ") {
		t.Errorf("the kubectl command did not print the workload access token:\n%s", got)
	}
}

func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created by acquireLock
	first, err := acquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.record(4242, "/some/kubeconfig"); err != nil {
		t.Fatal(err)
	}
	_, err = acquireLock(dir)
	var running *alreadyRunningError
	if !errors.As(err, &running) {
		t.Fatalf("second lock: got %v, want an already-running error", err)
	}
	want := "a Tokenwarden demo is already running (pid 4242, kubeconfig /some/kubeconfig); stop it with Ctrl-C in its terminal"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
	// run refuses before starting anything.
	var out bytes.Buffer
	if err := run(t.Context(), options{StateDir: dir}, &out); !errors.As(err, &running) {
		t.Errorf("run while locked: got %v", err)
	}
	first.release()
	if _, err := os.Stat(filepath.Join(dir, lockFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after release: %v", err)
	}
	again, err := acquireLock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.release()
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	if got, want := defaultStateDir(), "/xdg/state/tokenwarden-demo"; got != want {
		t.Errorf("with XDG_STATE_HOME: %q, want %q", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if got, want := defaultStateDir(), "/home/someone/.local/state/tokenwarden-demo"; got != want {
		t.Errorf("without XDG_STATE_HOME: %q, want %q", got, want)
	}
}

func TestListenFallsBackWhenBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	ln, note, err := listen(port)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := ln.Addr().(*net.TCPAddr)
	if got.Port == port || !got.IP.IsLoopback() {
		t.Errorf("listening on %s, want another port on 127.0.0.1", got)
	}
	if !strings.Contains(note, strconv.Itoa(port)+" is busy") {
		t.Errorf("note %q does not say the port is busy", note)
	}
}

func TestWriteKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := &rest.Config{Host: "https://127.0.0.1:6443/", TLSClientConfig: rest.TLSClientConfig{
		CAData: []byte("ca"), CertData: []byte("cert"), KeyData: []byte("key"),
	}}
	if err := writeKubeconfig(cfg, path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	loaded, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Host != cfg.Host || string(loaded.CAData) != "ca" || string(loaded.CertData) != "cert" || string(loaded.KeyData) != "key" {
		t.Errorf("round trip: host %q ca %q cert %q key %q", loaded.Host, loaded.CAData, loaded.CertData, loaded.KeyData)
	}
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ns := kc.Contexts[kc.CurrentContext].Namespace; ns != demoNamespace {
		t.Errorf("default namespace %q, want %q", ns, demoNamespace)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"demo.billing-service:abc_DEF-12": "demo.billing-service:abc_DEF-12",
		"scope=openid offline_access":     "'scope=openid offline_access'",
		"it's":                            `'it'\''s'`,
		"":                                "''",
		"/tmp/a b/kubeconfig":             "'/tmp/a b/kubeconfig'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// Package failover_test runs two replicas of the default layout as separate
// processes (the built command, leader election on) against one API server
// and kills the leader with SIGKILL under load: the surviving replica
// serves client_credentials with zero failed requests, takes over the
// controllers once the lease expires (client-go's bound: the lease duration
// plus one retry period and its jitter), and an OAuthClient created while
// no one leads becomes Ready after the takeover. Before that, one refresh
// token presented to both processes at once leaves exactly one live
// successor.
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test ./test/failover/
package failover_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

const (
	opNS   = "tokenwarden-system"
	issuer = "http://tokenwarden.test"
	// leaseName is the manager's leader-election Lease.
	leaseName = "tokenwarden.oauth.tokenwarden.dev"
	// leaseDuration and retryPeriod are controller-runtime's defaults,
	// which the command uses.
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
	// takeoverBound is when client-go's leader election lets a candidate
	// take an abandoned lease at the latest: the lease expires
	// leaseDuration after the candidate last saw it renewed (up to one
	// retry period before the kill), and the candidate looks every retry
	// period plus up to 1.2 of it in jitter.
	takeoverBound = leaseDuration + retryPeriod + retryPeriod*22/10
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond)
}

// post sends a form with HTTP Basic client authentication and decodes the
// JSON answer.
func post(u, id, secret string, form url.Values) (int, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m, nil
}

func leaseHolder(ctx context.Context) string {
	var l coordinationv1.Lease
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: opNS, Name: leaseName}, &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// readyClient creates an OAuthClient and waits until it is Ready.
func readyClient(t *testing.T, ns, name string) *v1alpha1.OAuthClient {
	t.Helper()
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
	}}
	if err := env.Client.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c)
		return meta.IsStatusConditionTrue(c.Status.Conditions, v1alpha1.ConditionReady)
	}).Should(gomega.BeTrue(), "client %s Ready", name)
	return c
}

func secretValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return string(s.Data[key])
}

func TestLeaderKilled(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{opNS, "tenant"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	bin, kubeconfig := buildBinary(t), writeKubeconfig(t, env.Config)
	leader := startReplica(t, bin, kubeconfig, "a")
	leader.waitReady(t)
	eventually(t, func() string { return leaseHolder(ctx) }).ShouldNot(gomega.BeEmpty(), "replica a leads")
	first := leaseHolder(ctx)
	survivor := startReplica(t, bin, kubeconfig, "b")
	survivor.waitReady(t)

	c := readyClient(t, "tenant", "app")
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "alice"}}
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(u), u)
		return meta.IsStatusConditionTrue(u.Status.Conditions, v1alpha1.ConditionReady)
	}).Should(gomega.BeTrue())
	id, secret := c.Status.ClientID, secretValue(t, "tenant", c.Status.SecretName, "client_secret")
	pw := secretValue(t, "tenant", u.Status.SecretName, "password")
	for _, r := range []*replica{leader, survivor} {
		eventually(t, func() int {
			status, _, _ := post(r.token+"/oauth/token", id, secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}})
			return status
		}).Should(gomega.Equal(http.StatusOK), "replica %s knows the client and the user", r.name)
	}

	refreshRace(t, []*replica{leader, survivor}, id, secret, pw)

	load := startLoad([]*replica{leader, survivor}, id, secret)
	time.Sleep(2 * time.Second)
	killed := time.Now()
	leader.kill9(t)
	load.stop(leader.name, killed)
	late := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "created-during-failover"},
		Spec: v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}}}
	if err := env.Client.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		h := leaseHolder(ctx)
		return h != "" && h != first
	}).WithTimeout(takeoverBound+5*time.Second).Should(gomega.BeTrue(), "replica b takes the lease over")
	takeover := time.Since(killed)
	t.Logf("replica b holds the lease %s after replica a was killed (lease duration %s)", takeover.Round(100*time.Millisecond), leaseDuration)
	if takeover > takeoverBound+time.Second {
		t.Errorf("takeover after %s, want within %s (the lease duration, a retry period and its jitter)", takeover, takeoverBound)
	}
	eventually(t, func() bool {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(late), late)
		return meta.IsStatusConditionTrue(late.Status.Conditions, v1alpha1.ConditionReady)
	}).Should(gomega.BeTrue(), "the client created while no replica led becomes Ready after the takeover")
	t.Logf("the client created at the kill is Ready %s after it", time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(2 * time.Second)
	ok, failed, failures := load.finish(survivor.name)
	t.Logf("replica b answered %d client_credentials requests during the test, %d failed", ok, failed)
	if failed > 0 || ok == 0 {
		t.Errorf("the surviving replica failed %d of %d requests: %v", failed, ok+failed, failures)
	}
	if okA, failedA, f := load.finish(leader.name); failedA > 0 {
		t.Errorf("replica a failed %d of %d requests before it was killed: %v", failedA, okA+failedA, f)
	}
}

// refreshRace presents one refresh token to both processes at once, four
// times each: of the successors issued, exactly one is live afterwards.
func refreshRace(t *testing.T, rs []*replica, id, secret, pw string) {
	t.Helper()
	status, tok, err := post(rs[0].token+"/oauth/token", id, secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}})
	rt, _ := tok["refresh_token"].(string)
	if err != nil || status != http.StatusOK || rt == "" {
		t.Fatalf("sign-in: %d %v %v", status, tok, err)
	}
	var mu sync.Mutex
	var successors []string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, body, err := post(rs[i%2].token+"/oauth/token", id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if next, _ := body["refresh_token"].(string); err == nil && status == http.StatusOK && next != "" {
				mu.Lock()
				successors = append(successors, next)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	live := 0
	for _, s := range successors {
		_, body, err := post(rs[1].token+"/oauth/introspect", id, secret, url.Values{"token": {s}, "token_type_hint": {"refresh_token"}})
		if active, _ := body["active"].(bool); err == nil && active {
			live++
		}
	}
	t.Logf("one refresh token sent 8 times at once to two processes: %d successors issued, %d live", len(successors), live)
	if len(successors) == 0 || live != 1 {
		t.Fatalf("%d successors, %d live; want exactly one live", len(successors), live)
	}
}

// load sends client_credentials requests to every replica until stopped,
// counting answers per replica.
type load struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	ok      map[string]*atomic.Int64
	failed  map[string]int
	samples map[string][]string // the first few failures
	stopped map[string]time.Time
}

func startLoad(rs []*replica, id, secret string) *load {
	l := &load{done: make(chan struct{}), ok: map[string]*atomic.Int64{}, failed: map[string]int{}, samples: map[string][]string{}, stopped: map[string]time.Time{}}
	for _, r := range rs {
		l.ok[r.name] = &atomic.Int64{}
		for range 2 {
			l.wg.Add(1)
			go l.run(r, id, secret)
		}
	}
	return l
}

func (l *load) run(r *replica, id, secret string) {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		default:
		}
		sent := time.Now()
		status, _, err := post(r.token+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
		l.mu.Lock()
		stoppedAt, stopped := l.stopped[r.name]
		switch {
		case stopped && !sent.Before(stoppedAt.Add(-100*time.Millisecond)):
			// Sent to a replica as (or after) it was killed: not counted.
		case err != nil || status != http.StatusOK:
			l.failed[r.name]++
			if len(l.samples[r.name]) < 5 {
				l.samples[r.name] = append(l.samples[r.name], errOrStatus(err, status))
			}
		default:
			l.ok[r.name].Add(1)
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops counting the answers of replica name from at on.
func (l *load) stop(name string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped[name] = at
}

// finish ends the load (once) and reports replica name's answers.
func (l *load) finish(name string) (ok, failed int, failures []string) {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.ok[name].Load()), l.failed[name], l.samples[name]
}

func errOrStatus(err error, status int) string {
	if err != nil {
		return err.Error()
	}
	return http.StatusText(status)
}

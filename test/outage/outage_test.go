// Package outage_test cuts the link between the token server and the API
// server for outageDuration and checks what the issue asks of it: the
// grants answered from the informer cache (client_credentials, password
// without a new refresh family) and the JWKS keep answering with zero
// errors and the replica stays ready; a grant that must write (a refresh, a
// sign-in starting a refresh family) answers 503 temporarily_unavailable
// with Retry-After, never 500 and never a token; and after the link is back
// the refresh family is consistent (the token refreshed before the outage
// still refreshes once, then is superseded). The token server runs alone
// (--mode=token-server) behind a loopback proxy; the controllers run beside
// it, straight against the API server.
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test ./test/outage/
package outage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

// outageDuration is how long the API server is unreachable.
const outageDuration = 30 * time.Second

const opNS = "tokenwarden-system"

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

func eventually(t testing.TB, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond)
}

// start runs a manager with cfg in mode; it returns the token server's and
// the probes' base URLs (empty when not served).
func start(t *testing.T, cfg *rest.Config, mode operator.Mode) (tokenURL, probeURL string, mgr manager.Manager) {
	t.Helper()
	o := testenv.OperatorOptions(opNS, "http://tokenwarden.test")
	o.Mode = mode
	o.Token.RefreshGrace = 0 // a superseded refresh token is refused at once
	if mode == operator.ModeTokenServer {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tokenURL = "http://" + ln.Addr().String()
		o.Token.Listener, o.IssuerURL = ln, tokenURL
		probes, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o.ProbeAddr = probes.Addr().String()
		probes.Close() // the manager binds it again
		probeURL = "http://" + o.ProbeAddr
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := operator.NewManager(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(testenv.RunManager(ctx, cancel, mgr))
	return tokenURL, probeURL, mgr
}

// answer is one HTTP answer, reduced to what the test judges.
type answer struct {
	status     int
	code       string // the OAuth error code, if any
	retryAfter string
	refresh    string // the refresh_token of a success
	err        error
}

func (a answer) String() string {
	if a.err != nil {
		return "transport error: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, a.code)
}

func do(req *http.Request) answer {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m struct {
		Error        string `json:"error"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(body, &m)
	return answer{status: resp.StatusCode, code: m.Error, retryAfter: resp.Header.Get("Retry-After"), refresh: m.RefreshToken}
}

func get(u string) answer {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(req)
}

// token posts a token request with client authentication in HTTP Basic.
func token(base, id, secret string, form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return do(req)
}

type credentials struct{ id, secret string }

// readyClient creates an OAuthClient and returns its credentials once
// Ready and known to the token server's cache.
func readyClient(t *testing.T, ns, name string, grants []v1alpha1.GrantType, tokenCache client.Reader) credentials {
	t.Helper()
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.OAuthClientSpec{GrantTypes: grants}}
	if err := env.Client.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c)
		return meta.IsStatusConditionTrue(c.Status.Conditions, v1alpha1.ConditionReady)
	}).Should(gomega.BeTrue(), "client %s Ready", name)
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: c.Status.SecretName}, &s); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		var cached v1alpha1.OAuthClient
		_ = tokenCache.Get(context.Background(), client.ObjectKeyFromObject(c), &cached)
		return cached.Status.ClientID
	}).Should(gomega.Equal(c.Status.ClientID))
	return credentials{c.Status.ClientID, string(s.Data["client_secret"])}
}

// readyUser creates an OAuthUser and returns its generated password once
// Ready and cached by the token server.
func readyUser(t *testing.T, ns, name string, tokenCache client.Reader) (*v1alpha1.OAuthUser, string) {
	t.Helper()
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.Client.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u)
		return meta.IsStatusConditionTrue(u.Status.Conditions, v1alpha1.ConditionReady)
	}).Should(gomega.BeTrue(), "user %s Ready", name)
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: u.Status.SecretName}, &s); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		var cached v1alpha1.OAuthUser
		_ = tokenCache.Get(context.Background(), client.ObjectKeyFromObject(u), &cached)
		return cached.Status.Username
	}).Should(gomega.Equal(name))
	return u, string(s.Data["password"])
}

func TestAPIServerOutage(t *testing.T) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opNS}}); err != nil {
		t.Fatal(err)
	}
	start(t, env.Config, operator.ModeControllers)
	apiServer, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, apiServer.Host)
	viaProxy := rest.CopyConfig(env.Config)
	viaProxy.Host = "https://" + proxy.addr()
	base, probes, tokenServer := start(t, viaProxy, operator.ModeTokenServer)
	eventually(t, func() int { return get(base + "/.well-known/jwks.json").status }).Should(gomega.Equal(http.StatusOK))

	ns := "tenant"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	cache := tokenServer.GetClient()
	svc := readyClient(t, ns, "svc", []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword}, cache)
	app := readyClient(t, ns, "app", []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}, cache)
	user, pw := readyUser(t, ns, "alice", cache)
	signIn := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}}
	first := token(base, app.id, app.secret, signIn)
	if first.status != http.StatusOK || first.refresh == "" {
		t.Fatalf("sign-in before the outage: %v", first)
	}
	refreshWith := func(rt string) answer {
		return token(base, app.id, app.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	before := refreshWith(first.refresh)
	if before.status != http.StatusOK {
		t.Fatalf("refresh before the outage: %v", before)
	}
	rt := before.refresh

	proxy.setCut(true)
	t.Logf("API server cut off for %s", outageDuration)
	served := runOutage(t, outageDuration, base, probes, svc, app, signIn, refreshWith, rt)
	proxy.setCut(false)
	t.Logf("during the outage: %v", served)

	// Back: the refresh token of before the outage refreshes (no attempt
	// during the outage rotated it), and the one it was exchanged for
	// refreshes in turn: no rotation was lost.
	var after answer
	eventually(t, func() int {
		after = refreshWith(rt)
		return after.status
	}).Should(gomega.Equal(http.StatusOK), "the pre-outage refresh token refreshes once the API server is back")
	next := refreshWith(after.refresh)
	if next.status != http.StatusOK {
		t.Fatalf("the refresh token issued after recovery: %v", next)
	}
	var families corev1.SecretList
	if err := env.Client.List(ctx, &families, client.InNamespace(opNS), client.MatchingLabels{contract.LabelRecordUserUID: string(user.UID)}); err != nil {
		t.Fatal(err)
	}
	if len(families.Items) != 1 {
		t.Fatalf("alice has %d refresh families after the outage, want the 1 she signed in with (no sign-in during the outage may leave one)", len(families.Items))
	}
	// The family kept its history: the token superseded after recovery is
	// a replay, which ends the family (RFC 9700 §4.14.2).
	if replay := refreshWith(rt); replay.status != http.StatusBadRequest || replay.code != "invalid_grant" {
		t.Fatalf("replaying a superseded refresh token after recovery: %v, want 400 invalid_grant", replay)
	}
	if dead := refreshWith(next.refresh); dead.status != http.StatusBadRequest {
		t.Fatalf("the family survived a replay: %v", dead)
	}
}

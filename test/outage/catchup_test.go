package outage_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

// TestWorkloadTokenCatchesUp: a workload token Secret whose refresh point
// falls inside an outage of the API server is refreshed after it, before
// the token in it expires. The token lives 1 minute (the shortest allowed)
// and is renewed at half of it, so the refresh point (27 to 30 s after
// issue, with jitter) lies inside a cut from issue+~5 s to issue+40 s. The
// controllers run with leader election off here: what a leader does when
// it cannot renew its lease is in the README (it stops; a follower or a
// restart takes over).
func TestWorkloadTokenCatchesUp(t *testing.T) {
	ctx := context.Background()
	const opns, ns = "tw-catchup", "catchup"
	for _, n := range []string{opns, ns} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	apiServer, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, apiServer.Host)
	via := rest.CopyConfig(env.Config)
	via.Host = "https://" + proxy.addr()
	o := testenv.OperatorOptions(opns, "http://tokenwarden.test")
	o.Mode = operator.ModeControllers
	mctx, cancel := context.WithCancel(ctx)
	mgr, err := operator.NewManager(mctx, via, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(testenv.RunManager(mctx, cancel, mgr))

	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: v1alpha1.OAuthClientSpec{
		GrantTypes:     []v1alpha1.GrantType{v1alpha1.GrantClientCredentials},
		AccessTokenTTL: &metav1.Duration{Duration: time.Minute},
		TokenSecrets:   []v1alpha1.TokenSecret{{Name: "workload-token", RefreshAtPercent: 50}},
	}}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(c), c)
		return meta.IsStatusConditionTrue(c.Status.Conditions, v1alpha1.ConditionTokensReady)
	}).WithTimeout(60*time.Second).Should(gomega.BeTrue(), "the workload token Secret is written")
	first, expires := workloadToken(t)
	issued := expires.Add(-time.Minute)

	proxy.setCut(true)
	t.Logf("API server cut off %s after the token was issued", time.Since(issued).Round(time.Second))
	time.Sleep(time.Until(issued.Add(40 * time.Second)))
	proxy.setCut(false)
	if tok, _ := workloadToken(t); tok != first {
		t.Fatal("the workload token Secret changed while the API server was unreachable")
	}
	t.Logf("API server back %s after issue; the token expires at +60 s", time.Since(issued).Round(time.Second))

	eventually(t, func() string {
		tok, _ := workloadToken(t)
		return tok
	}).WithTimeout(time.Until(expires)).ShouldNot(gomega.Equal(first), "the workload token is renewed before it expires")
	_, next := workloadToken(t)
	t.Logf("renewed %s after the API server came back, %s before the old token expired", time.Since(issued.Add(40*time.Second)).Round(100*time.Millisecond), time.Until(expires).Round(100*time.Millisecond))
	if !next.After(expires) {
		t.Fatalf("the renewed token expires at %s, not after the old one (%s)", next, expires)
	}
}

// workloadToken reads the access token and its expiry from the Secret, as
// the admin.
func workloadToken(t *testing.T) (string, time.Time) {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "catchup", Name: "workload-token"}, &s); err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, string(s.Data[contract.KeyExpiresAt]))
	if err != nil {
		t.Fatalf("expires_at: %v", err)
	}
	return string(s.Data[contract.KeyAccessToken]), exp
}

package tokenserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// familyNames lists the refresh-family Secrets of a namespace.
func familyNames(t testing.TB, ns string) []string {
	t.Helper()
	var list corev1.SecretList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Name)
	}
	return out
}

func collectAt(t *testing.T, now time.Time) tokenserver.CollectStats {
	t.Helper()
	c := &tokenserver.Collector{
		Reader: mgr.GetClient(), Writer: env.Client, Namespace: operatorNamespace,
		Clock: clocktesting.NewFakeClock(now), Log: logr.Discard(),
	}
	st, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	return st
}

func TestCollectorRemovesExpiredAndOrphanedFamilies(t *testing.T) {
	g := gomega.NewWithT(t)
	f := newFixture(t)
	id, secret := f.client("cli", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
	})
	_, alicePW := f.user("alice", v1alpha1.OAuthUserSpec{})
	bob, bobPW := f.user("bob", v1alpha1.OAuthUserSpec{})
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token"}}
	aliceTok, err := cfg.PasswordCredentialsToken(context.Background(), "alice", alicePW)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	_, err = cfg.PasswordCredentialsToken(context.Background(), "bob", bobPW)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(familyNames(t, f.ns)).To(gomega.HaveLen(2))
	// Both families are in the cache the collector reads.
	eventually(t, func() int {
		var list corev1.SecretList
		_ = mgr.GetClient().List(context.Background(), &list, client.InNamespace(f.ns), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily})
		return len(list.Items)
	}).Should(gomega.Equal(2))

	// Live families of live users stay.
	collectAt(t, time.Now())
	g.Expect(familyNames(t, f.ns)).To(gomega.HaveLen(2))

	// A deleted user's family goes, even without a garbage collector.
	g.Expect(env.Client.Delete(context.Background(), bob)).To(gomega.Succeed())
	eventually(t, func() []string {
		collectAt(t, time.Now())
		return familyNames(t, f.ns)
	}).Should(gomega.HaveLen(1))

	// Alice's family expires after its idle lifetime (7 days by default).
	collectAt(t, time.Now().Add(6*24*time.Hour))
	g.Expect(familyNames(t, f.ns)).To(gomega.HaveLen(1))
	collectAt(t, time.Now().Add(7*24*time.Hour+time.Minute))
	g.Expect(familyNames(t, f.ns)).To(gomega.BeEmpty())

	// Its refresh token no longer works.
	resp := post(t, "/oauth/token", formType, form("grant_type", "refresh_token", "refresh_token", aliceTok.RefreshToken,
		"client_id", id, "client_secret", secret))
	g.Expect(resp.status).To(gomega.Equal(400))
	g.Expect(resp.body["error"]).To(gomega.Equal("invalid_grant"))
}

func TestCollectorRemovesFamiliesOfDeletedClientsAndDisabledUsers(t *testing.T) {
	g := gomega.NewWithT(t)
	f := newFixture(t)
	spec := v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}}
	id1, secret1 := f.client("one", spec)
	id2, secret2 := f.client("two", spec)
	carol, carolPW := f.user("carol", v1alpha1.OAuthUserSpec{})
	for _, c := range []struct{ id, secret string }{{id1, secret1}, {id2, secret2}} {
		cfg := oauth2.Config{ClientID: c.id, ClientSecret: c.secret, Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token"}}
		_, err := cfg.PasswordCredentialsToken(context.Background(), "carol", carolPW)
		g.Expect(err).NotTo(gomega.HaveOccurred())
	}
	g.Expect(familyNames(t, f.ns)).To(gomega.HaveLen(2))

	var one v1alpha1.OAuthClient
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "one"}, &one)).To(gomega.Succeed())
	g.Expect(env.Client.Delete(context.Background(), &one)).To(gomega.Succeed())
	eventually(t, func() []string {
		collectAt(t, time.Now())
		return familyNames(t, f.ns)
	}).Should(gomega.HaveLen(1))

	carol.Spec.Disabled = true
	g.Expect(env.Client.Update(context.Background(), carol)).To(gomega.Succeed())
	eventually(t, func() []string {
		collectAt(t, time.Now())
		return familyNames(t, f.ns)
	}).Should(gomega.BeEmpty())
}

func TestCollectorRemovesExpiredRevocationRecords(t *testing.T) {
	g := gomega.NewWithT(t)
	f := newFixture(t)
	id, secret := f.client("svc", v1alpha1.OAuthClientSpec{})
	tok := post(t, "/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", secret))
	g.Expect(tok.status).To(gomega.Equal(200))
	access, _ := tok.body["access_token"].(string)
	rev := post(t, "/oauth/revoke", formType, form("token", access, "client_id", id, "client_secret", secret))
	g.Expect(rev.status).To(gomega.Equal(200))
	records := func() int {
		var list corev1.ConfigMapList
		_ = mgr.GetClient().List(context.Background(), &list, client.InNamespace(operatorNamespace), client.MatchingLabels{contract.LabelKind: contract.KindRevokedToken})
		return len(list.Items)
	}
	eventually(t, records).Should(gomega.BeNumerically(">=", 1))
	// Kept while the token could still be presented (1 h lifetime): the
	// token stays inactive.
	collectAt(t, time.Now().Add(30*time.Minute))
	g.Consistently(func() any {
		intro := post(t, "/oauth/introspect", formType, form("token", access, "client_id", id, "client_secret", secret))
		return intro.body["active"]
	}).WithTimeout(time.Second).WithPolling(100 * time.Millisecond).Should(gomega.Equal(false))
	// Gone once the token has expired.
	collectAt(t, time.Now().Add(2*time.Hour))
	eventually(t, records).Should(gomega.Equal(0))
}

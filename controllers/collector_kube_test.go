package controllers_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/controllers"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
)

// These tests run the Collector over the Kubernetes store, against the
// manager's cache as the operator wires it: the records are Secrets and
// ConfigMaps, the owners are read from the cache, and envtest has no garbage
// collector, so a deleted owner's records are removed by the Collector alone.

// kubeStores are the Kubernetes stores over the suite manager's cache.
func kubeStores() store.Stores {
	return kubestore.New(kubestore.Options{
		Cache: mgr.GetClient(), Live: mgr.GetAPIReader(), Writer: env.Client, Namespace: operatorNamespace,
	})
}

func collectAt(t *testing.T, st store.Stores, now time.Time) controllers.CollectStats {
	t.Helper()
	c := &controllers.Collector{
		Families: st.Families, Codes: st.Codes, Revocations: st.Revocations,
		Reader: mgr.GetClient(), Clock: clocktesting.NewFakeClock(now),
	}
	stats, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	return stats
}

// recordNames lists the Secrets of one record kind of a tenant namespace:
// they are in the operator namespace, labelled with the tenant's.
func recordNames(t *testing.T, ns, kind string) func() []string {
	return func() []string {
		var list corev1.SecretList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(operatorNamespace),
			client.MatchingLabels{contract.LabelKind: kind, contract.LabelRecordNamespace: ns}); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list.Items {
			out = append(out, s.Name)
		}
		return out
	}
}

// cachedRecords counts what the collector will see.
func cachedRecords(ns, kind string) func() int {
	return func() int {
		var list corev1.SecretList
		_ = mgr.GetClient().List(context.Background(), &list, client.InNamespace(operatorNamespace),
			client.MatchingLabels{contract.LabelKind: kind, contract.LabelRecordNamespace: ns})
		return len(list.Items)
	}
}

// cached waits until the manager's cache has obj.
func cached(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, func() error {
		return mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
	}).Should(gomega.Succeed())
}

func newFamily(t *testing.T, st store.Stores, id string, c *v1alpha1.OAuthClient, u *v1alpha1.OAuthUser, now time.Time) {
	t.Helper()
	f := &store.Family{ClientUID: c.UID, UserUID: u.UID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(30 * 24 * time.Hour), IdleTTL: 7 * 24 * time.Hour, Current: "digest-" + id}
	owner := store.Owner{UserName: u.Name, UserUID: u.UID, ClientName: c.Name, ClientUID: c.UID}
	if err := st.Families.Create(context.Background(), c.Namespace, id, f, owner); err != nil {
		t.Fatalf("create family %s: %v", id, err)
	}
}

func TestCollectorRemovesExpiredAndOrphanedFamilies(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	st := kubeStores()
	now := time.Now()
	cli, alice, bob := newClient(ns, "cli"), newUser(ns, "alice"), newUser(ns, "bob")
	for _, o := range []client.Object{cli, alice, bob} {
		create(t, o)
		cached(t, o)
	}
	newFamily(t, st, "alice", cli, alice, now)
	newFamily(t, st, "bob", cli, bob, now)
	eventually(t, cachedRecords(ns, contract.KindRefreshFamily)).Should(gomega.Equal(2))

	// Live families of live users stay.
	g.Expect(collectAt(t, st, now)).To(gomega.Equal(controllers.CollectStats{}))
	g.Expect(recordNames(t, ns, contract.KindRefreshFamily)()).To(gomega.HaveLen(2))

	// A deleted user's family goes, even without a garbage collector.
	g.Expect(env.Client.Delete(context.Background(), bob)).To(gomega.Succeed())
	eventually(t, func() []string {
		collectAt(t, st, now)
		return recordNames(t, ns, contract.KindRefreshFamily)()
	}).Should(gomega.ConsistOf(kubestore.RecordName(kubestore.FamilySecretPrefix, ns, "alice")))

	// Alice's family expires after its idle lifetime.
	g.Expect(collectAt(t, st, now.Add(6*24*time.Hour))).To(gomega.Equal(controllers.CollectStats{}))
	eventually(t, func() []string {
		collectAt(t, st, now.Add(7*24*time.Hour+time.Minute))
		return recordNames(t, ns, contract.KindRefreshFamily)()
	}).Should(gomega.BeEmpty())
}

func TestCollectorRemovesFamiliesOfDeletedClientsAndDisabledUsers(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	st := kubeStores()
	now := time.Now()
	one, two, carol := newClient(ns, "one"), newClient(ns, "two"), newUser(ns, "carol")
	for _, o := range []client.Object{one, two, carol} {
		create(t, o)
		cached(t, o)
	}
	newFamily(t, st, "one", one, carol, now)
	newFamily(t, st, "two", two, carol, now)
	eventually(t, cachedRecords(ns, contract.KindRefreshFamily)).Should(gomega.Equal(2))

	g.Expect(env.Client.Delete(context.Background(), one)).To(gomega.Succeed())
	eventually(t, func() []string {
		collectAt(t, st, now)
		return recordNames(t, ns, contract.KindRefreshFamily)()
	}).Should(gomega.ConsistOf(kubestore.RecordName(kubestore.FamilySecretPrefix, ns, "two")))

	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(carol), carol)).To(gomega.Succeed())
	carol.Spec.Disabled = true
	g.Expect(env.Client.Update(context.Background(), carol)).To(gomega.Succeed())
	eventually(t, func() []string {
		collectAt(t, st, now)
		return recordNames(t, ns, contract.KindRefreshFamily)()
	}).Should(gomega.BeEmpty())
}

func TestCollectorRemovesExpiredRevocationsAndCodes(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	st := kubeStores()
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	jti := "jti-" + ns
	g.Expect(st.Revocations.Revoke(ctx, jti, now.Add(time.Hour), "uid-app")).To(gomega.Succeed())
	cli, dave := newClient(ns, "web"), newUser(ns, "dave")
	create(t, cli)
	create(t, dave)
	code := &store.AuthCode{Digest: "d", ClientUID: cli.UID, UserUID: dave.UID, ExpiresAt: now.Add(25 * time.Minute)}
	g.Expect(st.Codes.Create(ctx, ns, "code", code, store.Owner{UserName: dave.Name, UserUID: dave.UID, ClientName: cli.Name})).To(gomega.Succeed())
	eventually(t, cachedRecords(ns, contract.KindAuthorizationCode)).Should(gomega.Equal(1))
	eventually(t, func() bool { ok, _ := st.Revocations.IsRevoked(ctx, jti); return ok }).Should(gomega.BeTrue())

	// The code record is kept while a second use must be recognised, the
	// revocation while the token could still be presented.
	g.Expect(collectAt(t, st, now.Add(35*time.Minute-time.Second)).ExpiredCodes).To(gomega.Equal(0))
	g.Expect(recordNames(t, ns, contract.KindAuthorizationCode)()).To(gomega.HaveLen(1))
	g.Expect(collectAt(t, st, now.Add(35*time.Minute)).ExpiredCodes).To(gomega.BeNumerically(">=", 1))
	g.Expect(recordNames(t, ns, contract.KindAuthorizationCode)()).To(gomega.BeEmpty())
	g.Expect(st.Revocations.IsRevoked(ctx, jti)).To(gomega.BeTrue())

	// The revocation stays through the leeway after the token's expiry,
	// then goes.
	g.Expect(collectAt(t, st, now.Add(time.Hour+59*time.Second)).ExpiredRevocations).To(gomega.Equal(0))
	g.Expect(st.Revocations.IsRevoked(ctx, jti)).To(gomega.BeTrue(), "inside the leeway")
	g.Expect(collectAt(t, st, now.Add(time.Hour+time.Minute)).ExpiredRevocations).To(gomega.BeNumerically(">=", 1))
	eventually(t, func() bool { ok, _ := st.Revocations.IsRevoked(ctx, jti); return ok }).Should(gomega.BeFalse())
}

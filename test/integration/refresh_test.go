package integration_test

// Refresh-token families and sessions where the cluster matters: the family
// Secret's stored form and labels; the instant after a
// revocation, before the manager's cache saw it; two replicas racing on one
// token through the API server; and what the controllers do when a user is
// disabled or deleted, or a client deleted. The protocol behaviour of the
// same features is tested over the in-memory stores in tokenserver.

import (
	"context"
	"fmt"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// rfSession creates f's client app, which may refresh tokens with
// servertest.SessionScope, and its user alice, for the refresh scenarios
// that tokenserver runs over the memory stores.
func rfSession(t testing.TB, f *fixture) (servertest.Session, *v1alpha1.OAuthUser) {
	t.Helper()
	id, secret := f.client("app", servertest.RefreshClient(servertest.SessionScope))
	u, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	return servertest.Session{Issuer: issuer, ID: id, Secret: secret, Username: "alice", Password: pw, StartServer: startServer}, u
}

// rfFamilyKey names the family Secret of rt for the client namespace ns.
func rfFamilyKey(t testing.TB, ns, rt string) client.ObjectKey {
	t.Helper()
	fam, _ := servertest.TokenParts(t, rt)
	return client.ObjectKey{Namespace: operatorNamespace, Name: kubestore.RecordName(kubestore.FamilySecretPrefix, ns, fam)}
}

// rfFamilySecret reads the family Secret of rt from the API server.
func rfFamilySecret(t testing.TB, ns, rt string) (*corev1.Secret, error) {
	t.Helper()
	var s corev1.Secret
	err := env.Client.Get(context.Background(), rfFamilyKey(t, ns, rt), &s)
	return &s, err
}

// rfSyncCache waits until the manager's cache holds the family Secret of rt
// as the API server does (same resourceVersion, or gone from both), so that
// reads answered from the cache (introspection) see the latest rotation.
func rfSyncCache(t testing.TB, ns, rt string) {
	t.Helper()
	key := rfFamilyKey(t, ns, rt)
	eventually(t, func() error {
		var live, cached corev1.Secret
		lerr := mgr.GetAPIReader().Get(context.Background(), key, &live)
		cerr := mgr.GetClient().Get(context.Background(), key, &cached)
		switch {
		case apierrors.IsNotFound(lerr) && apierrors.IsNotFound(cerr):
			return nil
		case lerr != nil || cerr != nil:
			return fmt.Errorf("live %v, cached %v", lerr, cerr)
		case live.ResourceVersion != cached.ResourceVersion:
			return fmt.Errorf("cache at %s, API server at %s", cached.ResourceVersion, live.ResourceVersion)
		}
		return nil
	}).Should(gomega.Succeed())
}

// rfWaitCached waits until the manager's cache (what the token server reads)
// satisfies ok for obj's key; ok gets nil when the object is gone.
func rfWaitCached[T client.Object](t testing.TB, obj T, newObj func() T, ok func(T) bool) {
	t.Helper()
	eventually(t, func() bool {
		o := newObj()
		err := mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(obj), o)
		if apierrors.IsNotFound(err) {
			var zero T
			return ok(zero)
		}
		return err == nil && ok(o)
	}).Should(gomega.BeTrue())
}

// Every use of a refresh token returns a new one, which works; the cluster
// keeps only digests.
func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	session, _ := rfSession(t, f)
	issued := servertest.RefreshRotation(t, session)
	cur := issued[len(issued)-1]

	// One family, in the operator namespace (none in the client's, where
	// the tenant could write), labelled with the client's namespace,
	// holding no plaintext.
	var list corev1.SecretList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(f.ns), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily}); err != nil || len(list.Items) != 0 {
		t.Fatalf("%d refresh-family Secrets in the client namespace, want none (%v)", len(list.Items), err)
	}
	if err := env.Client.List(context.Background(), &list, client.InNamespace(operatorNamespace),
		client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily, contract.LabelRecordNamespace: f.ns}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d refresh-family Secrets of the client namespace, want 1 (rotation stays in one family)", len(list.Items))
	}
	s := list.Items[0]
	if want := rfFamilyKey(t, f.ns, cur).Name; s.Name != want {
		t.Fatalf("family Secret %s, want %s", s.Name, want)
	}
	if s.Labels[contract.LabelFamilyClient] != "app" {
		t.Fatalf("family labels %v: want %s=app", s.Labels, contract.LabelFamilyClient)
	}
	var all []byte
	for k, v := range s.Data {
		all = append(all, k...)
		all = append(all, v...)
	}
	for k, v := range s.StringData {
		all = append(all, k+v...)
	}
	for k, v := range s.Annotations {
		all = append(all, k+v...)
	}
	servertest.WantDigestsOnly(t, all, issued, "the family Secret")
}

// Two replicas over the same API server receive the same refresh token at
// once, outside any grace window: exactly one request gets a successor, the
// others are replays and revoke the family, so no successor stays valid.
// (Server errors among the losers are TestRefreshConcurrentUseNeverServerError.)
func TestRefreshRaceTwoReplicas(t *testing.T) {
	f := newFixture(t)
	s, _ := rfSession(t, f)
	servertest.RefreshRaceTwoReplicas(t, s, func(t testing.TB, rt, what string) {
		eventually(t, func() bool {
			_, err := rfFamilySecret(t, f.ns, rt)
			return apierrors.IsNotFound(err)
		}).Should(gomega.BeTrue(), what)
	})
}

// With a grace window, concurrent presentations of one token are honest
// retries: several may be answered, but afterwards exactly one of all the
// successors handed out is valid, and it carries the family on.
func TestRefreshRaceTwoReplicasWithGrace(t *testing.T) {
	f := newFixture(t)
	s, _ := rfSession(t, f)
	servertest.RefreshRaceTwoReplicasWithGrace(t, s, func(t testing.TB, rt string) { rfSyncCache(t, f.ns, rt) })
}

// Concurrent uses of one refresh token (a client retrying in parallel, or a
// thief racing the owner) are answered with a token or invalid_grant, never
// with a server error.
func TestRefreshConcurrentUseNeverServerError(t *testing.T) {
	s, _ := rfSession(t, newFixture(t))
	servertest.RefreshConcurrentUseNeverServerError(t, s)
}

// The holder of the current token uses it the moment after the family was
// revoked (by a replay, or RFC 7009 revocation): the answer is invalid_grant.
func TestRefreshRightAfterRevocation(t *testing.T) {
	s, _ := rfSession(t, newFixture(t))
	servertest.RefreshRightAfterRevocation(t, s)
}

func rfSetDisabled(t *testing.T, u *v1alpha1.OAuthUser, disabled bool) {
	t.Helper()
	eventually(t, func() error {
		var cur v1alpha1.OAuthUser
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), &cur); err != nil {
			return err
		}
		cur.Spec.Disabled = disabled
		return env.Client.Update(context.Background(), &cur)
	}).Should(gomega.Succeed())
	// The controller reflects it in the status, and the token server's
	// cache sees it.
	eventually(t, func() bool {
		var cur v1alpha1.OAuthUser
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), &cur); err != nil {
			return false
		}
		return cur.Status.Disabled == disabled && meta.IsStatusConditionTrue(cur.Status.Conditions, v1alpha1.ConditionReady) == !disabled
	}).Should(gomega.BeTrue(), "user status disabled=%v", disabled)
	rfWaitCached(t, u, func() *v1alpha1.OAuthUser { return &v1alpha1.OAuthUser{} }, func(o *v1alpha1.OAuthUser) bool {
		return o != nil && o.Spec.Disabled == disabled && o.Status.Disabled == disabled
	})
}

// A disabled user cannot sign in, and its existing tokens stop working.
func TestSessionDisabledUser(t *testing.T) {
	s, u := rfSession(t, newFixture(t))
	servertest.SessionDisabledUser(t, s, func() { rfSetDisabled(t, u, true) })
}

// The spec: refresh families "die when the user is disabled". Enabling the
// user again must not bring its old sessions back.
func TestSessionReenabledUserKeepsOldSessionsDead(t *testing.T) {
	s, u := rfSession(t, newFixture(t))
	rt := s.SignIn(t, issuer)
	rfSetDisabled(t, u, true)
	rfSetDisabled(t, u, false)
	servertest.WantError(t, s.Refresh(t, issuer, rt), 400, "invalid_grant", "refresh token issued before the user was disabled")
	s.SignIn(t, issuer)
}

// A deleted user's refresh tokens stop working, also when a user of the same
// name is created again; the family Secret names the user's namespace and
// UID, so the collector removes it.
func TestSessionDeletedUser(t *testing.T) {
	f := newFixture(t)
	s, u := rfSession(t, f)
	deleteUser := func(rt string) {
		fam, err := rfFamilySecret(t, f.ns, rt)
		if err != nil {
			t.Fatal(err)
		}
		if fam.Labels[contract.LabelRecordUserUID] != string(u.UID) || fam.Labels[contract.LabelRecordNamespace] != f.ns {
			t.Fatalf("family Secret labels %v do not name the user %s (%s) of %s", fam.Labels, u.Name, u.UID, f.ns)
		}
		if err := env.Client.Delete(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		rfWaitCached(t, u, func() *v1alpha1.OAuthUser { return &v1alpha1.OAuthUser{} }, func(o *v1alpha1.OAuthUser) bool { return o == nil })
	}
	servertest.SessionDeletedUser(t, s, deleteUser, func() string {
		u2, pw2 := f.user("alice", v1alpha1.OAuthUserSpec{SecretName: "alice-v2"})
		if u2.UID == u.UID {
			t.Fatal("the re-created user has the old UID")
		}
		return pw2
	})
}

// A client deleted mid-session: its refresh tokens and credentials stop
// working, its access tokens introspect inactive, and a client re-created
// under the same name and client_id does not inherit its families.
func TestSessionClientDeleted(t *testing.T) {
	f := newFixture(t)
	spec := servertest.RefreshClient(servertest.SessionScope)
	spec.GrantTypes = append(spec.GrantTypes, v1alpha1.GrantClientCredentials)
	id, secret := f.client("app", spec)
	obsID, obsSecret := f.client("observer", servertest.RefreshClient(servertest.SessionScope))
	u, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	s := servertest.Session{Issuer: issuer, ID: id, Secret: secret, Username: "alice", Password: pw}
	observer := servertest.Session{ID: obsID, Secret: obsSecret}
	var c v1alpha1.OAuthClient
	deleteClient := func(rt string) {
		fam, err := rfFamilySecret(t, f.ns, rt)
		if err != nil {
			t.Fatal(err)
		}
		if fam.Labels[contract.LabelRecordUserUID] != string(u.UID) {
			t.Fatalf("family labels %v: want the user", fam.Labels)
		}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "app"}, &c); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
		rfWaitCached(t, &c, func() *v1alpha1.OAuthClient { return &v1alpha1.OAuthClient{} }, func(o *v1alpha1.OAuthClient) bool { return o == nil })
	}
	servertest.SessionClientDeleted(t, s, observer, deleteClient, func() (string, string) {
		id2, secret2 := f.client("app", v1alpha1.OAuthClientSpec{
			GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, SecretName: "app-v2-credentials",
		})
		var c2 v1alpha1.OAuthClient
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "app"}, &c2); err != nil {
			t.Fatal(err)
		}
		if c2.UID == c.UID {
			t.Fatal("the re-created client has the old UID")
		}
		if id2 != id {
			t.Logf("re-created client has client_id %q (was %q)", id2, id)
		}
		return id2, secret2
	})
}

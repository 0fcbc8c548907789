package controllers_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// userFamilies lists the refresh families of user u.
func userFamilies(t *testing.T, u *v1alpha1.OAuthUser) func() []string {
	return func() []string {
		var list corev1.SecretList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(operatorNamespace), client.MatchingLabels{
			contract.LabelKind: contract.KindRefreshFamily, contract.LabelRecordNamespace: u.Namespace, contract.LabelRecordUserUID: string(u.UID)}); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list.Items {
			out = append(out, s.Name)
		}
		return out
	}
}

// passwordGeneration is the user's status.passwordGeneration.
func passwordGeneration(t *testing.T, u *v1alpha1.OAuthUser) func() int64 {
	return func() int64 {
		var cur v1alpha1.OAuthUser
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), &cur); err != nil {
			t.Fatal(err)
		}
		return cur.Status.PasswordGeneration
	}
}

// usersWithFamilies creates a client, alice (mutated by mutate) and bob,
// and two refresh families for each user.
func usersWithFamilies(t *testing.T, ns string, mutate func(*v1alpha1.OAuthUser)) (alice, bob *v1alpha1.OAuthUser) {
	t.Helper()
	st := kubeStores()
	cli, alice, bob := newClient(ns, "cli"), newUser(ns, "alice", mutate), newUser(ns, "bob")
	for _, o := range []client.Object{cli, alice, bob} {
		create(t, o)
		cached(t, o)
	}
	waitReady(t, alice, metav1.ConditionTrue, "Ready")
	now := time.Now()
	for _, id := range []string{"a1", "a2"} {
		newFamily(t, st, id, cli, alice, now)
	}
	for _, id := range []string{"b1", "b2"} {
		newFamily(t, st, id, cli, bob, now)
	}
	eventually(t, cachedRecords(ns, contract.KindRefreshFamily)).Should(gomega.Equal(4))
	return alice, bob
}

// TestPasswordHashChangeRevokes: a new spec.password.hash revokes the
// user's refresh families (another user's stay), raises
// status.passwordGeneration and records SessionsRevoked; a reconcile with
// the same hash changes nothing more.
func TestPasswordHashChangeRevokes(t *testing.T) {
	ns := env.Namespace(t)
	alice, bob := usersWithFamilies(t, ns, func(u *v1alpha1.OAuthUser) { u.Spec.Password.Hash = bcryptHash })
	g := gomega.NewWithT(t)
	g.Expect(passwordGeneration(t, alice)()).To(gomega.BeZero())
	g.Expect(eventReasons(ns, "alice")()).NotTo(gomega.ContainElement("SessionsRevoked"))

	hash, err := bcrypt.GenerateFromPassword([]byte("a new password for alice"), 4)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	alice.Spec.Password.Hash = string(hash)
	g.Expect(env.Client.Update(context.Background(), alice)).To(gomega.Succeed())
	eventually(t, userFamilies(t, alice)).Should(gomega.BeEmpty())
	eventually(t, passwordGeneration(t, alice)).Should(gomega.Equal(int64(1)))
	eventually(t, eventReasons(ns, "alice")).Should(gomega.ContainElement("SessionsRevoked"))
	g.Expect(userFamilies(t, bob)()).To(gomega.HaveLen(2), "another user's families were revoked")
	g.Expect(eventReasons(ns, "bob")()).NotTo(gomega.ContainElement("SessionsRevoked"))

	touch(t, alice)
	time.Sleep(time.Second)
	g.Expect(passwordGeneration(t, alice)()).To(gomega.Equal(int64(1)), "an unchanged password counted as a change")
	g.Expect(getSecret(t, ns, "alice-oauth-user").Annotations["tokenwarden.dev/password-record"]).NotTo(gomega.ContainSubstring(string(hash)))
}

// TestPasswordSecretChangeRevokes: a new value in the referenced Secret is a
// password change; the digest kept on the credential Secret, never in the
// OAuthUser.
func TestPasswordSecretChangeRevokes(t *testing.T) {
	ns := env.Namespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-password"},
		StringData: map[string]string{"password": "first-password-of-alice"}})
	alice, bob := usersWithFamilies(t, ns, func(u *v1alpha1.OAuthUser) {
		u.Spec.Password.SecretRef = &v1alpha1.PasswordSecretRef{Name: "alice-password"}
	})
	eventually(t, func() string { return getSecret(t, ns, "alice-password").Labels[contract.LabelKind] }).Should(gomega.Equal(contract.KindPasswordSource))
	ref := getSecret(t, ns, "alice-password")
	ref.Data["password"] = []byte("second-password-of-alice")
	g := gomega.NewWithT(t)
	g.Expect(env.Client.Update(context.Background(), ref)).To(gomega.Succeed())
	eventually(t, userFamilies(t, alice)).Should(gomega.BeEmpty())
	eventually(t, passwordGeneration(t, alice)).Should(gomega.Equal(int64(1)))
	eventually(t, eventReasons(ns, "alice")).Should(gomega.ContainElement("SessionsRevoked"))
	g.Expect(userFamilies(t, bob)()).To(gomega.HaveLen(2))
	var cur v1alpha1.OAuthUser
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(alice), &cur)).To(gomega.Succeed())
	g.Expect(cur.Annotations).NotTo(gomega.HaveKey("tokenwarden.dev/password-record"))
}

// TestPasswordRegeneratedRevokes: a generated password deleted from its
// Secret is regenerated, which is a change too.
func TestPasswordRegeneratedRevokes(t *testing.T) {
	ns := env.Namespace(t)
	alice, _ := usersWithFamilies(t, ns, func(*v1alpha1.OAuthUser) {})
	s := getSecret(t, ns, "alice-oauth-user")
	delete(s.Data, "password")
	gomega.NewWithT(t).Expect(env.Client.Update(context.Background(), s)).To(gomega.Succeed())
	eventually(t, userFamilies(t, alice)).Should(gomega.BeEmpty())
	eventually(t, passwordGeneration(t, alice)).Should(gomega.Equal(int64(1)))
}

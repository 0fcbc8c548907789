package controllers_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func newUser(ns, name string, mutate ...func(*v1alpha1.OAuthUser)) *v1alpha1.OAuthUser {
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, m := range mutate {
		m(u)
	}
	return u
}

// A bcrypt hash of "correct horse battery staple" at cost 4.
const bcryptHash = "$2a$04$JxzEcF2VibuzOqtkQljk2.PN/cgHw3f6yuL3M7F2Zgs3kAHRyGmmW"

func TestUserGeneratedPassword(t *testing.T) {
	ns := env.Namespace(t)
	u := newUser(ns, "alice", func(u *v1alpha1.OAuthUser) { u.Spec.Email = "alice@example.com" })
	create(t, u)
	waitReady(t, u, metav1.ConditionTrue, "Ready")
	g := gomega.NewWithT(t)
	g.Expect(u.Status.Username).To(gomega.Equal("alice"))
	g.Expect(u.Status.PasswordSource).To(gomega.Equal(v1alpha1.PasswordGenerated))
	s := getSecret(t, ns, "alice-oauth-user")
	g.Expect(string(s.Data["username"])).To(gomega.Equal("alice"))
	raw, err := base64.RawURLEncoding.DecodeString(string(s.Data["password"]))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(len(raw) * 8).To(gomega.BeNumerically(">=", 128))
	g.Expect(string(s.Data["token_url"])).To(gomega.Equal(issuer + "/oauth/token"))
	g.Expect(metav1.IsControlledBy(s, u)).To(gomega.BeTrue())

	// A deleted password cannot be recovered: a new one is generated, loudly.
	original := string(s.Data["password"])
	delete(s.Data, "password")
	g.Expect(env.Client.Update(context.Background(), s)).To(gomega.Succeed())
	eventually(t, secretData(ns, "alice-oauth-user", "password")).ShouldNot(gomega.Or(gomega.BeEmpty(), gomega.Equal(original)))
	eventually(t, eventReasons(ns, "alice")).Should(gomega.ContainElement("CredentialsRegenerated"))
}

func TestUserPasswordFromSecretRef(t *testing.T) {
	ns := env.Namespace(t)
	u := newUser(ns, "bob", func(u *v1alpha1.OAuthUser) {
		u.Spec.Username = "bob@corp"
		u.Spec.Password.SecretRef = &v1alpha1.PasswordSecretRef{Name: "bob-password"}
	})
	create(t, u)
	cond := waitReady(t, u, metav1.ConditionFalse, "PasswordSecretMissing")
	gomega.NewWithT(t).Expect(cond.Message).To(gomega.ContainSubstring("bob-password"))

	// The Secret appears: the user becomes Ready, and the Secret is labeled so
	// later changes reach the controller.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-password"},
		StringData: map[string]string{"password": "hunter2-but-longer"}})
	waitReady(t, u, metav1.ConditionTrue, "Ready")
	g := gomega.NewWithT(t)
	g.Expect(u.Status.PasswordSource).To(gomega.Equal(v1alpha1.PasswordFromSecret))
	g.Expect(u.Status.Username).To(gomega.Equal("bob@corp"))
	eventually(t, func() string { return getSecret(t, ns, "bob-password").Labels["tokenwarden.dev/kind"] }).Should(gomega.Equal("password-source"))
	cred := getSecret(t, ns, "bob-oauth-user")
	g.Expect(cred.Data).NotTo(gomega.HaveKey("password"), "a password Tokenwarden did not generate is never copied")
	g.Expect(string(cred.Data["username"])).To(gomega.Equal("bob@corp"))

	// Removing the key is noticed through the watch.
	ref := getSecret(t, ns, "bob-password")
	ref.Data = map[string][]byte{"other": []byte("x")}
	g.Expect(env.Client.Update(context.Background(), ref)).To(gomega.Succeed())
	waitReady(t, u, metav1.ConditionFalse, "PasswordSecretMissing")
}

func TestUserPasswordHash(t *testing.T) {
	ns := env.Namespace(t)
	good := newUser(ns, "carol", func(u *v1alpha1.OAuthUser) { u.Spec.Password.Hash = bcryptHash })
	create(t, good)
	waitReady(t, good, metav1.ConditionTrue, "Ready")
	gomega.NewWithT(t).Expect(good.Status.PasswordSource).To(gomega.Equal(v1alpha1.PasswordHash))
	if _, ok := getSecret(t, ns, "carol-oauth-user").Data["password"]; ok {
		t.Fatal("a hash-only user's Secret holds a password")
	}

	bad := newUser(ns, "dave", func(u *v1alpha1.OAuthUser) { u.Spec.Password.Hash = "$argon2id$v=19$m=65536,t=3,p=4$!!oops$oops" }) // passes the CRD bounds, fails parsing
	create(t, bad)
	cond := waitReady(t, bad, metav1.ConditionFalse, "InvalidPasswordHash")
	gomega.NewWithT(t).Expect(cond.Message).NotTo(gomega.ContainSubstring("oops"), "the hash is not echoed")
}

func TestUserDisabled(t *testing.T) {
	ns := env.Namespace(t)
	u := newUser(ns, "erin")
	create(t, u)
	waitReady(t, u, metav1.ConditionTrue, "Ready")
	u.Spec.Disabled = true
	if err := env.Client.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	waitReady(t, u, metav1.ConditionFalse, "Disabled")
	if !u.Status.Disabled || u.Status.Username != "erin" {
		t.Fatalf("status %+v", u.Status)
	}
}

func TestUsernameClash(t *testing.T) {
	ns := env.Namespace(t)
	first := newUser(ns, "frank")
	create(t, first)
	waitReady(t, first, metav1.ConditionTrue, "Ready")
	second := newUser(ns, "frank-2", func(u *v1alpha1.OAuthUser) { u.Spec.Username = "frank" })
	create(t, second)
	cond := waitReady(t, second, metav1.ConditionFalse, "UsernameConflict")
	g := gomega.NewWithT(t)
	g.Expect(cond.Message).To(gomega.ContainSubstring("frank"))
	g.Expect(second.Status.Username).To(gomega.BeEmpty())

	// The same username in another namespace is fine: namespaces are tenants.
	other := newUser(env.Namespace(t), "frank")
	create(t, other)
	waitReady(t, other, metav1.ConditionTrue, "Ready")

	g.Expect(env.Client.Delete(context.Background(), first)).To(gomega.Succeed())
	waitReady(t, second, metav1.ConditionTrue, "Ready")
	g.Expect(second.Status.Username).To(gomega.Equal("frank"))
	var list v1alpha1.OAuthUserList
	g.Expect(env.Client.List(context.Background(), &list, client.InNamespace(ns))).To(gomega.Succeed())
}

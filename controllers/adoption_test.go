package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// staysAsWritten checks that a Secret keeps, for a while, exactly the
// resourceVersion it had: nothing wrote to it at all.
func staysAsWritten(t *testing.T, s *corev1.Secret) {
	t.Helper()
	gomega.NewWithT(t).Consistently(func() string {
		return getSecret(t, s.Namespace, s.Name).ResourceVersion
	}).WithTimeout(2*time.Second).WithPolling(100*time.Millisecond).Should(gomega.Equal(s.ResourceVersion), "Secret %s was written", s.Name)
}

// TestExistingSecretIsAdoptedOnlyWithConsent names existing Secrets the
// operator did not write as credential Secrets, for a client and for a user
// with a hash: without the adopt-by annotation naming the object, or of
// another type than Opaque, nothing is written to them (not even a label or
// an owner reference) and the object reports SecretConflict with how to opt
// in.
func TestExistingSecretIsAdoptedOnlyWithConsent(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		typ         corev1.SecretType
		data        map[string][]byte
		message     string
	}{
		{name: "no consent", data: map[string][]byte{"password": []byte("the-database-password"), "username": []byte("app")},
			message: "annotate it tokenwarden.dev/adopt-by=%s"},
		{name: "consent for another object", annotations: map[string]string{"tokenwarden.dev/adopt-by": "OAuthClient/someone-else"},
			data: map[string][]byte{"password": []byte("smtp")}, message: "annotate it tokenwarden.dev/adopt-by=%s"},
		{name: "consent but not Opaque", annotations: map[string]string{"tokenwarden.dev/adopt-by": "%s"}, typ: corev1.SecretTypeBasicAuth,
			data: map[string][]byte{"username": []byte("app"), "password": []byte("pw")}, message: "of type kubernetes.io/basic-auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := env.Namespace(t)
			c := newClient(ns, "grabber", func(c *v1alpha1.OAuthClient) { c.Spec.SecretName = "victim-client" })
			u := newUser(ns, "grabber", func(u *v1alpha1.OAuthUser) {
				u.Spec.SecretName = "victim-user"
				u.Spec.Password.Hash = bcryptHash
			})
			for _, o := range []struct {
				obj    client.Object
				secret string
				kind   string
			}{{c, "victim-client", "OAuthClient/grabber"}, {u, "victim-user", "OAuthUser/grabber"}} {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.secret, Labels: map[string]string{"app": "db"}},
					Type: tt.typ, Data: tt.data}
				for k, v := range tt.annotations {
					s.Annotations = map[string]string{k: strings.ReplaceAll(v, "%s", o.kind)}
				}
				create(t, s)
				create(t, o.obj)
				cond := waitReady(t, o.obj, metav1.ConditionFalse, "SecretConflict")
				gomega.NewWithT(t).Expect(cond.Message).To(gomega.ContainSubstring(strings.ReplaceAll(tt.message, "%s", o.kind)))
				staysAsWritten(t, s)
				eventually(t, eventReasons(ns, "grabber")).Should(gomega.ContainElement("SecretConflict"))
			}
			if c.Status.ClientID != "" {
				t.Errorf("a client without its Secret holds client_id %q", c.Status.ClientID)
			}
		})
	}
}

// TestUserAdoptionKeepsKeysItDidNotWrite: a hash user adopts, with consent,
// a Secret holding a password key; the password stays, since Tokenwarden did
// not write it. A password key added by hand to its own Secret stays too,
// while one Tokenwarden generated goes when the user switches to a hash.
func TestUserAdoptionKeepsKeysItDidNotWrite(t *testing.T) {
	ns := env.Namespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carol-creds",
		Annotations: map[string]string{"tokenwarden.dev/adopt-by": "OAuthUser/carol"}},
		Data: map[string][]byte{"password": []byte("written-by-someone-else"), "note": []byte("keep me")}})
	carol := newUser(ns, "carol", func(u *v1alpha1.OAuthUser) {
		u.Spec.SecretName = "carol-creds"
		u.Spec.Password.Hash = bcryptHash
	})
	create(t, carol)
	waitReady(t, carol, metav1.ConditionTrue, "Ready")
	eventually(t, secretData(ns, "carol-creds", "username")).Should(gomega.Equal("carol"))
	s := getSecret(t, ns, "carol-creds")
	g := gomega.NewWithT(t)
	g.Expect(string(s.Data["password"])).To(gomega.Equal("written-by-someone-else"))
	g.Expect(string(s.Data["note"])).To(gomega.Equal("keep me"))
	g.Expect(metav1.IsControlledBy(s, carol)).To(gomega.BeTrue())
	g.Expect(s.Annotations["tokenwarden.dev/managed-keys"]).To(gomega.Equal("issuer,jwks_url,token_url,username"))

	// A generated password is Tokenwarden's: switching to a hash removes it.
	dave := newUser(ns, "dave")
	create(t, dave)
	waitReady(t, dave, metav1.ConditionTrue, "Ready")
	g.Expect(secretData(ns, "dave-oauth-user", "password")()).NotTo(gomega.BeEmpty())
	dave.Spec.Password.Hash = bcryptHash
	g.Expect(env.Client.Update(context.Background(), dave)).To(gomega.Succeed())
	eventually(t, secretData(ns, "dave-oauth-user", "password")).Should(gomega.BeEmpty())

	// A password put there by hand afterwards is not.
	own := getSecret(t, ns, "dave-oauth-user")
	own.Data["password"] = []byte("added-by-hand")
	g.Expect(env.Client.Update(context.Background(), own)).To(gomega.Succeed())
	touch(t, dave)
	gomega.NewWithT(t).Consistently(secretData(ns, "dave-oauth-user", "password")).
		WithTimeout(2 * time.Second).Should(gomega.Equal("added-by-hand"))
}

// TestPasswordSecretRefGetsOnlyTheLabel: the Secret a user names in
// spec.password.secretRef gets the label that brings it into the cache and
// nothing else: no owner, no annotation, no data change.
func TestPasswordSecretRefGetsOnlyTheLabel(t *testing.T) {
	ns := env.Namespace(t)
	ref := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erin-password",
		Labels: map[string]string{"app": "sso"}, Annotations: map[string]string{"owner": "team"}},
		Data: map[string][]byte{"password": []byte("hunter2-but-longer"), "other": []byte("x")}}
	create(t, ref)
	u := newUser(ns, "erin", func(u *v1alpha1.OAuthUser) {
		u.Spec.Password.SecretRef = &v1alpha1.PasswordSecretRef{Name: "erin-password"}
	})
	create(t, u)
	waitReady(t, u, metav1.ConditionTrue, "Ready")
	got := getSecret(t, ns, "erin-password")
	g := gomega.NewWithT(t)
	g.Expect(got.Labels).To(gomega.Equal(map[string]string{"app": "sso", "tokenwarden.dev/kind": "password-source"}))
	g.Expect(got.Annotations).To(gomega.Equal(ref.Annotations))
	g.Expect(got.OwnerReferences).To(gomega.BeEmpty())
	g.Expect(got.Data).To(gomega.Equal(ref.Data))
	staysAsWritten(t, got)
}

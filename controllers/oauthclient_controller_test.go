package controllers_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func newClient(ns, name string, mutate ...func(*v1alpha1.OAuthClient)) *v1alpha1.OAuthClient {
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, m := range mutate {
		m(c)
	}
	return c
}

func TestClientCreatesCredentialSecret(t *testing.T) {
	ns := env.Namespace(t)
	c := newClient(ns, "billing", func(c *v1alpha1.OAuthClient) {
		c.Spec.Scopes = []string{"invoices.read", "invoices.write"}
		c.Spec.SecretTemplate = &v1alpha1.SecretTemplate{
			Labels:      map[string]string{"team": "billing", "tokenwarden.dev/kind": "hijack"},
			Annotations: map[string]string{"reloader.stakater.com/match": "true"},
		}
	})
	create(t, c)
	waitReady(t, c, metav1.ConditionTrue, "Ready")

	g := gomega.NewWithT(t)
	g.Expect(c.Status.ClientID).To(gomega.Equal(ns + ".billing"))
	g.Expect(c.Status.SecretName).To(gomega.Equal("billing-oauth-client"))
	g.Expect(c.Status.ObservedGeneration).To(gomega.Equal(c.Generation))
	g.Expect(c.Spec.GrantTypes).To(gomega.Equal([]v1alpha1.GrantType{v1alpha1.GrantClientCredentials}), "default grant")
	g.Expect(c.Spec.AccessTokenTTL.Duration).To(gomega.Equal(time.Hour), "default TTL")

	s := getSecret(t, ns, "billing-oauth-client")
	g.Expect(string(s.Data["client_id"])).To(gomega.Equal(ns + ".billing"))
	raw, err := base64.RawURLEncoding.DecodeString(string(s.Data["client_secret"]))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(len(raw)*8).To(gomega.BeNumerically(">=", 256), "client secret entropy in bits")
	g.Expect(string(s.Data["issuer"])).To(gomega.Equal(issuer))
	g.Expect(string(s.Data["token_url"])).To(gomega.Equal(issuer + "/oauth/token"))
	g.Expect(string(s.Data["jwks_url"])).To(gomega.Equal(issuer + "/.well-known/jwks.json"))
	g.Expect(string(s.Data["scope"])).To(gomega.Equal("invoices.read invoices.write"))
	g.Expect(s.Labels).To(gomega.HaveKeyWithValue("team", "billing"))
	g.Expect(s.Labels).To(gomega.HaveKeyWithValue("tokenwarden.dev/kind", "client-credentials"), "template cannot override reserved labels")
	g.Expect(s.Annotations).To(gomega.HaveKeyWithValue("reloader.stakater.com/match", "true"))
	g.Expect(s.OwnerReferences).To(gomega.HaveLen(1))
	g.Expect(s.OwnerReferences[0].UID).To(gomega.Equal(c.UID))
	g.Expect(*s.OwnerReferences[0].Controller).To(gomega.BeTrue())
	eventually(t, eventReasons(ns, "billing")).Should(gomega.ContainElement("CredentialsCreated"))
}

func TestPublicClientHasNoSecret(t *testing.T) {
	ns := env.Namespace(t)
	c := newClient(ns, "spa", func(c *v1alpha1.OAuthClient) {
		c.Spec.Public = true
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken}
		c.Spec.RedirectURIs = []string{"https://app.example.com/callback"}
	})
	create(t, c)
	waitReady(t, c, metav1.ConditionTrue, "Ready")
	s := getSecret(t, ns, "spa-oauth-client")
	if _, ok := s.Data["client_secret"]; ok {
		t.Fatal("public client's Secret holds a client_secret")
	}
	if string(s.Data["client_id"]) != ns+".spa" {
		t.Fatalf("client_id = %q", s.Data["client_id"])
	}
}

// TestClientAdoptsExistingSecret is a migration from another server: the
// Secret's writer consents with the adopt-by annotation, and the namespace
// may keep its legacy client_id.
func TestClientAdoptsExistingSecret(t *testing.T) {
	ns := legacyNamespace(t)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy", Labels: map[string]string{"origin": "hydra"},
			Annotations: map[string]string{"tokenwarden.dev/adopt-by": "OAuthClient/legacy-app"}},
		StringData: map[string]string{"client_secret": "kept-from-the-old-server", "note": "keep me"},
	})
	c := newClient(ns, "legacy-app", func(c *v1alpha1.OAuthClient) {
		c.Spec.SecretName = "legacy"
		c.Spec.ClientID = "legacy-app-" + ns
	})
	create(t, c)
	waitReady(t, c, metav1.ConditionTrue, "Ready")
	eventually(t, secretData(ns, "legacy", "client_id")).Should(gomega.Equal("legacy-app-" + ns))
	s := getSecret(t, ns, "legacy")
	g := gomega.NewWithT(t)
	g.Expect(string(s.Data["client_secret"])).To(gomega.Equal("kept-from-the-old-server"))
	g.Expect(string(s.Data["note"])).To(gomega.Equal("keep me"), "foreign keys are kept")
	g.Expect(s.Labels).To(gomega.HaveKeyWithValue("origin", "hydra"))
	g.Expect(s.Annotations["tokenwarden.dev/managed-keys"]).NotTo(gomega.ContainSubstring("note"))
	g.Expect(metav1.IsControlledBy(s, c)).To(gomega.BeTrue())
	eventually(t, eventReasons(ns, "legacy-app")).Should(gomega.ContainElement("SecretAdopted"))
}

func TestClientSecretOwnedByAnotherObjectIsAConflict(t *testing.T) {
	ns := env.Namespace(t)
	first := newClient(ns, "first", func(c *v1alpha1.OAuthClient) { c.Spec.SecretName = "shared" })
	create(t, first)
	waitReady(t, first, metav1.ConditionTrue, "Ready")
	second := newClient(ns, "second", func(c *v1alpha1.OAuthClient) { c.Spec.SecretName = "shared" })
	create(t, second)
	cond := waitReady(t, second, metav1.ConditionFalse, "SecretConflict")
	if !strings.Contains(cond.Message, "shared") {
		t.Errorf("message %q does not name the Secret", cond.Message)
	}
	if got := getSecret(t, ns, "shared").Data["client_id"]; string(got) != ns+".first" {
		t.Fatalf("second client overwrote the Secret: client_id %q", got)
	}
}

func TestClientSecretRotationWithOverlap(t *testing.T) {
	ns := env.Namespace(t)
	c := newClient(ns, "rotating", func(c *v1alpha1.OAuthClient) {
		c.Spec.SecretRotation = &v1alpha1.SecretRotation{
			Interval: metav1.Duration{Duration: 24 * time.Hour},
			Overlap:  metav1.Duration{Duration: time.Hour},
		}
	})
	create(t, c)
	waitReady(t, c, metav1.ConditionTrue, "Ready")
	g := gomega.NewWithT(t)
	first := secretData(ns, "rotating-oauth-client", "client_secret")()
	g.Expect(c.Status.NextSecretRotationTime).NotTo(gomega.BeNil())
	g.Expect(c.Status.NextSecretRotationTime.Sub(c.Status.LastSecretRotationTime.Time)).To(gomega.Equal(24 * time.Hour))

	// One day later: the secret rotates and the old one becomes the previous.
	clock.Step(24 * time.Hour)
	touch(t, c)
	eventually(t, secretData(ns, "rotating-oauth-client", "client_secret_previous")).Should(gomega.Equal(first))
	second := secretData(ns, "rotating-oauth-client", "client_secret")()
	g.Expect(second).NotTo(gomega.Equal(first))
	expires, err := time.Parse(time.RFC3339, secretData(ns, "rotating-oauth-client", "client_secret_previous_expires_at")())
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(expires).To(gomega.Equal(clock.Now().UTC().Truncate(time.Second).Add(time.Hour)))
	eventually(t, eventReasons(ns, "rotating")).Should(gomega.ContainElement("SecretRotated"))
	eventually(t, func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c)
		return c.Status.PreviousSecretExpiryTime != nil && c.Status.PreviousSecretExpiryTime.Time.Equal(expires)
	}).Should(gomega.BeTrue())

	// Within the overlap the previous secret stays; after it, it goes.
	clock.Step(30 * time.Minute)
	touch(t, c)
	gomega.NewWithT(t).Consistently(secretData(ns, "rotating-oauth-client", "client_secret_previous")).
		WithTimeout(time.Second).Should(gomega.Equal(first))
	clock.Step(31 * time.Minute)
	touch(t, c)
	eventually(t, secretData(ns, "rotating-oauth-client", "client_secret_previous")).Should(gomega.BeEmpty())
	g.Expect(secretData(ns, "rotating-oauth-client", "client_secret")()).To(gomega.Equal(second))
	eventually(t, eventReasons(ns, "rotating")).Should(gomega.ContainElement("PreviousSecretRemoved"))
}

func TestClientSecretEditedOrDeletedIsRepaired(t *testing.T) {
	ns := env.Namespace(t)
	c := newClient(ns, "repair")
	create(t, c)
	waitReady(t, c, metav1.ConditionTrue, "Ready")
	name := "repair-oauth-client"
	original := secretData(ns, name, "client_secret")()

	s := getSecret(t, ns, name)
	s.Data["issuer"] = []byte("https://evil.example")
	delete(s.Labels, "tokenwarden.dev/kind")
	if err := env.Client.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	// With the kind label gone the Secret leaves the cache; the controller
	// still sees the change because the update reaches it as a deletion.
	eventually(t, secretData(ns, name, "issuer")).Should(gomega.Equal(issuer))
	eventually(t, func() string { return getSecret(t, ns, name).Labels["tokenwarden.dev/kind"] }).Should(gomega.Equal("client-credentials"))
	gomega.NewWithT(t).Expect(secretData(ns, name, "client_secret")()).To(gomega.Equal(original), "an edit keeps the secret")

	if err := env.Client.Delete(context.Background(), getSecret(t, ns, name)); err != nil {
		t.Fatal(err)
	}
	eventually(t, secretData(ns, name, "client_secret")).ShouldNot(gomega.Or(gomega.BeEmpty(), gomega.Equal(original)))
	eventually(t, eventReasons(ns, "repair")).Should(gomega.ContainElement("CredentialsRegenerated"))
}

// TestClientIDClash: within one namespace the client created first keeps a
// custom id, and the next takes it over when it goes. (Across namespaces an
// id never passes: TestClientIDNeverPassesToAnotherNamespace.)
func TestClientIDClash(t *testing.T) {
	ns := env.Namespace(t)
	id := ns + ".shared"
	first := newClient(ns, "first", func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = id })
	create(t, first)
	waitReady(t, first, metav1.ConditionTrue, "Ready")
	second := newClient(ns, "second", func(c *v1alpha1.OAuthClient) { c.Spec.ClientID = id })
	create(t, second)
	cond := waitReady(t, second, metav1.ConditionFalse, "ClientIDConflict")
	g := gomega.NewWithT(t)
	g.Expect(cond.Message).To(gomega.ContainSubstring(ns + "/first"))
	g.Expect(second.Status.ClientID).To(gomega.BeEmpty(), "a clashing client holds no id")
	var s corev1.Secret
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "second-oauth-client"}, &s)
	g.Expect(err).To(gomega.HaveOccurred(), "a clashing client gets no credentials")
	eventually(t, eventReasons(ns, "second")).Should(gomega.ContainElement("ClientIDConflict"))

	// When the holder goes, the id passes to the other client at once.
	if err := env.Client.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	waitReady(t, second, metav1.ConditionTrue, "Ready")
	g.Expect(second.Status.ClientID).To(gomega.Equal(id))
}

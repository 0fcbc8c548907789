package controllers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
)

// tokensReady waits for the TokensReady condition with the given status and
// reason on a fresh read of c.
func tokensReady(t *testing.T, c *v1alpha1.OAuthClient, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, func() string {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
			return err.Error()
		}
		cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionTokensReady)
		if cond == nil {
			return "no condition"
		}
		return string(cond.Status) + "/" + cond.Reason
	}).Should(gomega.Equal(string(status) + "/" + reason))
}

// verifyAccessToken checks a token against the published JWKS with go-oidc.
func verifyAccessToken(t *testing.T, tok string) *oidc.IDToken {
	t.Helper()
	var cm corev1.ConfigMap
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: operatorNamespace, Name: keys.ConfigMapName}, &cm); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(cm.Data[keys.ConfigMapKey]), &set); err != nil {
		t.Fatal(err)
	}
	ks := &oidc.StaticKeySet{}
	for _, k := range set.Keys {
		ks.PublicKeys = append(ks.PublicKeys, k.Key)
	}
	v := oidc.NewVerifier(issuer, ks, &oidc.Config{SkipClientIDCheck: true, Now: clock.Now, SupportedSigningAlgs: []string{"ES256", "RS256"}})
	idt, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("token from the Secret does not verify: %v", err)
	}
	return idt
}

// renewNow steps the fake clock past the next refresh and makes the
// controller look (scheduled requeues run on real time).
func renewNow(t *testing.T, c *v1alpha1.OAuthClient, name string) {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
	for _, st := range c.Status.TokenSecrets {
		if st.Name == name && st.NextRefreshTime != nil {
			clock.SetTime(st.NextRefreshTime.Add(time.Second))
		}
	}
	touch(t, c)
}

func TestClientTokenSecret(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	aud := "https://reports.example.com/" + ns
	create(t, &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reports-api"},
		Spec: v1alpha1.OAuthResourceSpec{Audience: aud, Scopes: []string{"reports.read", "reports.write"}}})
	c := newClient(ns, "reports", func(c *v1alpha1.OAuthClient) {
		c.Spec.Scopes = []string{"reports.read", "reports.write"}
		c.Spec.Audiences = []string{aud}
		c.Spec.AccessTokenTTL = &metav1.Duration{Duration: 10 * time.Minute}
		c.Spec.TokenSecrets = []v1alpha1.TokenSecret{{Name: "reports-token", Scopes: []string{"reports.read"}}}
	})
	create(t, c)
	tokensReady(t, c, metav1.ConditionTrue, "Ready")
	s := getSecret(t, ns, "reports-token")
	g.Expect(string(s.Data["token_type"])).To(gomega.Equal("Bearer"))
	g.Expect(string(s.Data["scope"])).To(gomega.Equal("reports.read"))
	g.Expect(string(s.Data["issuer"])).To(gomega.Equal(issuer))
	g.Expect(string(s.Data["token_url"])).To(gomega.Equal(issuer + "/oauth/token"))
	g.Expect(s.Data).NotTo(gomega.HaveKey("refresh_token"))
	g.Expect(s.Labels).To(gomega.HaveKeyWithValue(contract.LabelKind, contract.KindWorkloadToken))
	g.Expect(metav1.IsControlledBy(s, c)).To(gomega.BeTrue())
	expires, err := time.Parse(time.RFC3339, string(s.Data["expires_at"]))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(expires.Sub(clock.Now())).To(gomega.BeNumerically("~", 10*time.Minute, 2*time.Second))
	idt := verifyAccessToken(t, string(s.Data["access_token"]))
	g.Expect(idt.Audience).To(gomega.Equal([]string{aud}))
	g.Expect(idt.Subject).To(gomega.Equal("client:" + c.Status.ClientID))
	g.Expect(idt.Expiry.Unix()).To(gomega.Equal(expires.Unix()))

	st := c.Status.TokenSecrets[0]
	g.Expect(st.Ready).To(gomega.BeTrue())
	// Renewal at 80% of the lifetime, less at most 5% of jitter.
	left := st.NextRefreshTime.Sub(st.LastRefreshTime.Time)
	g.Expect(left).To(gomega.BeNumerically(">=", 7*time.Minute+30*time.Second))
	g.Expect(left).To(gomega.BeNumerically("<=", 8*time.Minute))

	// A reconcile before the refresh point changes nothing.
	touch(t, c)
	gomega.NewWithT(t).Consistently(func() string {
		return string(getSecret(t, ns, "reports-token").Data["access_token"])
	}).WithTimeout(500 * time.Millisecond).Should(gomega.Equal(string(s.Data["access_token"])))

	// At the refresh point, a new token replaces it before the old expires.
	old := string(s.Data["access_token"])
	renewNow(t, c, "reports-token")
	eventually(t, secretData(ns, "reports-token", "access_token")).ShouldNot(gomega.Equal(old))
	verifyAccessToken(t, string(getSecret(t, ns, "reports-token").Data["access_token"]))

	// A deleted Secret is recreated.
	g.Expect(env.Client.Delete(context.Background(), getSecret(t, ns, "reports-token"))).To(gomega.Succeed())
	eventually(t, secretData(ns, "reports-token", "access_token")).ShouldNot(gomega.BeEmpty())

	// A client that loses the grant has its tokens cleared, with a reason.
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c)).To(gomega.Succeed())
	c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantPassword}
	g.Expect(env.Client.Update(context.Background(), c)).To(gomega.Succeed())
	tokensReady(t, c, metav1.ConditionFalse, "TokensRefused")
	eventually(t, secretData(ns, "reports-token", "access_token")).Should(gomega.BeEmpty())
	g.Expect(c.Status.TokenSecrets[0].Message).To(gomega.ContainSubstring("client_credentials"))
	eventually(t, eventReasons(ns, c.Name)).Should(gomega.ContainElement("TokensCleared"))
}

// familyKey is where the token server keeps family id of namespace ns: in
// the operator namespace.
func familyKey(ns, id string) types.NamespacedName {
	return types.NamespacedName{Namespace: operatorNamespace, Name: kubestore.RecordName(kubestore.FamilySecretPrefix, ns, id)}
}

// familyCurrent reports whether a refresh token is the current token of its
// family, by the digest the family record keeps.
func familyCurrent(t *testing.T, ns, rt string) bool {
	t.Helper()
	rest, ok := strings.CutPrefix(rt, "twr_")
	if !ok {
		t.Fatalf("not a refresh token: %q", rt)
	}
	id, secret, _ := strings.Cut(rest, "_")
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), familyKey(ns, id), &s); err != nil {
		return false
	}
	var f struct {
		Current string `json:"current"`
	}
	_ = json.Unmarshal(s.Data["family"], &f)
	sum := sha256.Sum256([]byte(secret))
	return f.Current == hex.EncodeToString(sum[:])
}

func TestUserTokenSecret(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	u := newUser(ns, "robot", func(u *v1alpha1.OAuthUser) {
		u.Spec.Password = v1alpha1.PasswordSpec{Hash: bcryptHash} // no plaintext anywhere
	})
	create(t, u)
	waitReady(t, u, metav1.ConditionTrue, "Ready")
	c := newClient(ns, "sync", func(c *v1alpha1.OAuthClient) {
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}
		c.Spec.Scopes = []string{"sync.run"}
		c.Spec.AccessTokenTTL = &metav1.Duration{Duration: 5 * time.Minute}
		c.Spec.TokenSecrets = []v1alpha1.TokenSecret{{Name: "robot-token", User: "robot", RefreshAtPercent: 50}}
	})
	create(t, c)
	tokensReady(t, c, metav1.ConditionTrue, "Ready")
	s := getSecret(t, ns, "robot-token")
	rt := string(s.Data["refresh_token"])
	g.Expect(rt).To(gomega.HavePrefix("twr_"))
	g.Expect(familyCurrent(t, ns, rt)).To(gomega.BeTrue())
	idt := verifyAccessToken(t, string(s.Data["access_token"]))
	g.Expect(idt.Subject).To(gomega.Equal(string(u.UID)))

	// Every renewal rotates the refresh token, and the one in the Secret is
	// always the family's current one.
	for i := range 3 {
		prev := string(getSecret(t, ns, "robot-token").Data["refresh_token"])
		renewNow(t, c, "robot-token")
		eventually(t, secretData(ns, "robot-token", "refresh_token")).ShouldNot(gomega.Equal(prev), "renewal %d", i)
		now := string(getSecret(t, ns, "robot-token").Data["refresh_token"])
		g.Expect(familyCurrent(t, ns, now)).To(gomega.BeTrue(), "renewal %d", i)
		g.Expect(familyCurrent(t, ns, prev)).To(gomega.BeFalse())
		g.Expect(strings.Split(now, "_")[1]).To(gomega.Equal(strings.Split(rt, "_")[1]), "same family")
	}

	// A restart recomputes the schedule from the Secret: a reconcile with
	// nothing due keeps the tokens and reports the same next refresh.
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c)).To(gomega.Succeed())
	next := c.Status.TokenSecrets[0].NextRefreshTime
	kept := string(getSecret(t, ns, "robot-token").Data["access_token"])
	touch(t, c)
	gomega.NewWithT(t).Consistently(func() string {
		return string(getSecret(t, ns, "robot-token").Data["access_token"])
	}).WithTimeout(500 * time.Millisecond).Should(gomega.Equal(kept))
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c)).To(gomega.Succeed())
	g.Expect(c.Status.TokenSecrets[0].NextRefreshTime.Equal(next)).To(gomega.BeTrue())

	// A revoked family is re-established with a new one, and an Event says so.
	cur := string(getSecret(t, ns, "robot-token").Data["refresh_token"])
	famID := strings.Split(cur, "_")[1]
	key := familyKey(ns, famID)
	g.Expect(env.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})).To(gomega.Succeed())
	renewNow(t, c, "robot-token")
	eventually(t, func() string {
		return strings.Split(string(getSecret(t, ns, "robot-token").Data["refresh_token"])+"_x", "_")[1]
	}).ShouldNot(gomega.Equal(famID))
	g.Expect(familyCurrent(t, ns, string(getSecret(t, ns, "robot-token").Data["refresh_token"]))).To(gomega.BeTrue())
	eventually(t, eventReasons(ns, c.Name)).Should(gomega.ContainElement("RefreshTokenReestablished"))

	// A disabled user's tokens are cleared, and its family revoked.
	last := string(getSecret(t, ns, "robot-token").Data["refresh_token"])
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u)).To(gomega.Succeed())
	u.Spec.Disabled = true
	g.Expect(env.Client.Update(context.Background(), u)).To(gomega.Succeed())
	renewNow(t, c, "robot-token")
	tokensReady(t, c, metav1.ConditionFalse, "TokensRefused")
	eventually(t, secretData(ns, "robot-token", "refresh_token")).Should(gomega.BeEmpty())
	g.Expect(string(getSecret(t, ns, "robot-token").Data["access_token"])).To(gomega.BeEmpty())
	g.Expect(familyCurrent(t, ns, last)).To(gomega.BeFalse())
	g.Expect(c.Status.TokenSecrets[0].Message).To(gomega.ContainSubstring("disabled"))
}

func TestTokenSecretNameClash(t *testing.T) {
	ns := env.Namespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"}, StringData: map[string]string{"x": "mine"}})
	c := newClient(ns, "app", func(c *v1alpha1.OAuthClient) {
		c.Spec.TokenSecrets = []v1alpha1.TokenSecret{{Name: "taken"}, {Name: "app-oauth-client"}}
	})
	create(t, c)
	tokensReady(t, c, metav1.ConditionFalse, "SecretConflict")
	g := gomega.NewWithT(t)
	g.Expect(string(getSecret(t, ns, "taken").Data["x"])).To(gomega.Equal("mine"))
	g.Expect(c.Status.TokenSecrets).To(gomega.HaveLen(2))
	for _, st := range c.Status.TokenSecrets {
		g.Expect(st.Ready).To(gomega.BeFalse())
	}
	// The client itself stays Ready: its credentials are fine.
	waitReady(t, c, metav1.ConditionTrue, "Ready")
}

func TestUserTokenSecretClearedWhenUserDeleted(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	u := newUser(ns, "batch")
	create(t, u)
	waitReady(t, u, metav1.ConditionTrue, "Ready")
	c := newClient(ns, "jobs", func(c *v1alpha1.OAuthClient) {
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}
		c.Spec.TokenSecrets = []v1alpha1.TokenSecret{{Name: "batch-token", User: "batch"}}
	})
	create(t, c)
	tokensReady(t, c, metav1.ConditionTrue, "Ready")
	g.Expect(getSecret(t, ns, "batch-token").Data["refresh_token"]).NotTo(gomega.BeEmpty())

	// Deleting the user clears the tokens at once, without waiting for the
	// next refresh.
	g.Expect(env.Client.Delete(context.Background(), u)).To(gomega.Succeed())
	tokensReady(t, c, metav1.ConditionFalse, "TokensRefused")
	eventually(t, secretData(ns, "batch-token", "access_token")).Should(gomega.BeEmpty())
	g.Expect(string(getSecret(t, ns, "batch-token").Data["refresh_token"])).To(gomega.BeEmpty())
	g.Expect(c.Status.TokenSecrets[0].Message).To(gomega.ContainSubstring("does not exist"))
}

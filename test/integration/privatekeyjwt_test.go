package integration_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicJWKS is the JWK Set of k's public key under kid (or, with private,
// the private key: a mistake the controller must refuse).
func publicJWKS(t testing.TB, k *ecdsa.PrivateKey, kid string, private bool) string {
	t.Helper()
	var key any = k.Public()
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signAssertion is a private_key_jwt assertion of client id for the token
// endpoint, built with go-jose.
func signAssertion(t testing.TB, k *ecdsa.PrivateKey, kid, id string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: id, Subject: id, Audience: jwt.Audience{issuer + "/oauth/token"}, ID: base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func clientKeysReason(t testing.TB, ns, name string) string {
	var c v1alpha1.OAuthClient
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		return ""
	}
	if cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionClientKeysReady); cond != nil {
		return cond.Reason
	}
	return ""
}

// TestPrivateKeyJWTFromConfigMap: keys referenced from the tenant's own
// ConfigMap authenticate; replacing the key there takes effect, the old key
// stops working.
func TestPrivateKeyJWTFromConfigMap(t *testing.T) {
	f := newFixture(t)
	k1, k2 := newECKey(t), newECKey(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "signer-keys", Namespace: f.ns}, Data: map[string]string{"jwks.json": publicJWKS(t, k1, "k1", false)}}
	f.create(cm)
	id, _ := f.client("signer", v1alpha1.OAuthClientSpec{Authentication: &v1alpha1.ClientAuthentication{
		PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{ConfigMapRef: &v1alpha1.KeyReference{Name: "signer-keys"}}, ClientSecret: v1alpha1.ClientSecretNone,
	}})
	eventually(t, func() string { return clientKeysReason(t, f.ns, "signer") }).Should(gomega.Equal("Ready"))
	eventually(t, func() int { return assertionPost(t, issuer, signAssertion(t, k1, "k1", id)).Status }).Should(gomega.Equal(http.StatusOK))
	// Replay: one assertion is good once.
	once := signAssertion(t, k1, "k1", id)
	if r := assertionPost(t, issuer, once); r.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.Status, r.Raw)
	}
	wantInvalidClient(t, assertionPost(t, issuer, once), "the same assertion again")
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["jwks.json"] = publicJWKS(t, k2, "k2", false)
	if err := env.Client.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() int { return assertionPost(t, issuer, signAssertion(t, k2, "k2", id)).Status }).Should(gomega.Equal(http.StatusOK))
	wantInvalidClient(t, assertionPost(t, issuer, signAssertion(t, k1, "k1", id)), "the replaced key")
}

// TestPrivateKeyJWTFromSecretAndBadKeys: a Secret reference works; a missing
// object and a JWKS holding a private key are reported in ClientKeysReady
// and authenticate nobody.
func TestPrivateKeyJWTFromSecretAndBadKeys(t *testing.T) {
	f := newFixture(t)
	k := newECKey(t)
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: f.ns}, StringData: map[string]string{"set": publicJWKS(t, k, "k", false)}})
	ref := func(name string) *v1alpha1.ClientAuthentication {
		return &v1alpha1.ClientAuthentication{PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{SecretRef: &v1alpha1.KeyReference{Name: name, Key: "set"}}}
	}
	id, _ := f.client("from-secret", v1alpha1.OAuthClientSpec{Authentication: ref("keys")})
	eventually(t, func() int { return assertionPost(t, issuer, signAssertion(t, k, "k", id)).Status }).Should(gomega.Equal(http.StatusOK))

	missing, _ := f.client("missing", v1alpha1.OAuthClientSpec{Authentication: ref("no-such-secret")})
	eventually(t, func() string { return clientKeysReason(t, f.ns, "missing") }).Should(gomega.Equal("ClientKeysMissing"))
	wantInvalidClient(t, assertionPost(t, issuer, signAssertion(t, k, "k", missing)), "missing keys")

	bad, _ := f.client("private", v1alpha1.OAuthClientSpec{Authentication: &v1alpha1.ClientAuthentication{
		PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{JWKS: publicJWKS(t, k, "k", true)},
	}})
	eventually(t, func() string { return clientKeysReason(t, f.ns, "private") }).Should(gomega.Equal("ClientKeysInvalid"))
	wantInvalidClient(t, assertionPost(t, issuer, signAssertion(t, k, "k", bad)), "a JWKS with a private key")
}

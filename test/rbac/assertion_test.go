package rbac_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// machine is a tenant's client without a static secret: a ServiceAccount of
// its namespace and a private_key_jwt key pair (public keys in a ConfigMap)
// authenticate as it.
type machine struct {
	clientID string
	key      *ecdsa.PrivateKey
}

const (
	machineSA  = "workload"
	machineKID = "machine-1"
	assertType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// setUpMachine creates the ServiceAccount, the ConfigMap holding the JWK
// Set and the client, and waits until the client is Ready with its keys
// and the token server's cache knows it (which takes the controllers
// labelling the ConfigMap: patch, and the caches watching ConfigMaps in
// the tenant namespace).
func setUpMachine(t *testing.T, tn *tenant, tokenCache client.Reader) *machine {
	t.Helper()
	ctx := context.Background()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: machineKID, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: machineSA}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "machine-keys"}, Data: map[string]string{v1alpha1.DefaultJWKSKey: string(jwks)}}
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "machine"}, Spec: v1alpha1.OAuthClientSpec{
		Audiences: []string{tn.audience}, Scopes: []string{"read"},
		Authentication: &v1alpha1.ClientAuthentication{
			ServiceAccounts: []string{machineSA},
			PrivateKeyJWT:   &v1alpha1.PrivateKeyJWT{ConfigMapRef: &v1alpha1.KeyReference{Name: cm.Name}},
			ClientSecret:    v1alpha1.ClientSecretNone,
		},
	}}
	for _, o := range []client.Object{sa, cm, c} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	waitCondition(t, c, v1alpha1.ConditionReady)
	waitCondition(t, c, v1alpha1.ConditionClientKeysReady)
	eventually(t, func() string {
		var cached v1alpha1.OAuthClient
		_ = tokenCache.Get(ctx, client.ObjectKeyFromObject(c), &cached)
		return cached.Status.ClientID
	}).Should(gomega.Equal(c.Status.ClientID), "the token server's cache knows the machine client")
	eventually(t, func() error {
		return tokenCache.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{})
	}).Should(gomega.Succeed(), "the token server's cache holds the client's JWK Set")
	return &machine{clientID: c.Status.ClientID, key: k}
}

// useAssertions gets client_credentials tokens at base as the machine
// client, once with its ServiceAccount's token (a TokenReview) and once
// with a private_key_jwt assertion, through x/oauth2.
func useAssertions(t *testing.T, base string, tn *tenant) {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(tn.ns).CreateToken(ctx, machineSA, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{base}, ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	for what, assertion := range map[string]string{
		"ServiceAccount token": tr.Status.Token,
		"private_key_jwt":      signAssertion(t, tn.machine, base),
	} {
		cc := clientcredentials.Config{ClientID: tn.machine.clientID, TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
			EndpointParams: url.Values{"client_assertion_type": {assertType}, "client_assertion": {assertion}}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client_credentials with a %s: %v", what, err)
		}
		if tok.AccessToken == "" {
			t.Fatalf("client_credentials with a %s: no access token", what)
		}
	}
}

// signAssertion is a private_key_jwt assertion of m for the token endpoint
// at base.
func signAssertion(t *testing.T, m *machine, base string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: m.key, KeyID: machineKID}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: m.clientID, Subject: m.clientID, Audience: jwt.Audience{base + "/oauth/token"}, ID: base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

package tenancy_test

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
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// podToken is the projected token of a pod running as ServiceAccount ns/name,
// for the issuer's audience (the attacker's own pods have one).
func podToken(t *testing.T, ns, name string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{issuer}, ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr.Status.Token
}

// TestWorkloadIdentityAcrossTenants: a tenant cannot authenticate as another
// namespace's secretless client with its own pods' tokens, cannot point its
// client at another namespace's keys, and cannot exchange another
// namespace's token.
func TestWorkloadIdentityAcrossTenants(t *testing.T) {
	w := newWorld(t)
	for _, ns := range []string{w.teamA, w.evil} {
		create(t, env.Client, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: ns}})
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k", Algorithm: "ES256"}}})
	create(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: w.teamA}, StringData: map[string]string{"jwks.json": string(jwks)}})
	victim, _ := newClient(t, env.Client, w.teamA, "robot", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials},
		Authentication: &v1alpha1.ClientAuthentication{ServiceAccounts: []string{"robot"}, ClientSecret: v1alpha1.ClientSecretNone,
			PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{SecretRef: &v1alpha1.KeyReference{Name: "keys"}}},
	})
	victimToken := assertionToken(t, podToken(t, w.teamA, "robot"), victim)

	// The attacker's client names the same ServiceAccount name and the same
	// Secret name, in its own namespace, and may exchange tokens.
	evil, evilSecret := newClient(t, w.attacker, w.evil, "robot", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantTokenExchange},
		Authentication: &v1alpha1.ClientAuthentication{ServiceAccounts: []string{"robot"},
			PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{SecretRef: &v1alpha1.KeyReference{Name: "keys"}}},
	})
	waitCondition(t, &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, Name: "robot"}}, v1alpha1.ConditionClientKeysReady, metav1.ConditionFalse, "ClientKeysMissing")

	evilPod := podToken(t, w.evil, "robot")
	for name, kv := range map[string][]string{
		"its pod's token as the victim's client":         {"client_id", victim, "client_assertion_type", jwtBearer, "client_assertion", evilPod},
		"its pod's token on the victim's per-client URL": {"client_assertion_type", jwtBearer, "client_assertion", evilPod},
		"the victim's key signing for its own client":    {"client_assertion_type", jwtBearer, "client_assertion", signedAssertion(t, key, evil)},
	} {
		path := "/oauth/token"
		if name == "its pod's token on the victim's per-client URL" {
			path = "/clients/" + w.teamA + "/robot/token"
		}
		r := testhttp.Post(t, issuer+path, testhttp.FormType, testhttp.Form(append([]string{"grant_type", "client_credentials"}, kv...)...))
		if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" || r.Body["access_token"] != nil {
			t.Errorf("%s: %d %s, want 401 invalid_client", name, r.Status, r.Raw)
		}
	}
	for name, kv := range map[string][]string{
		"a leaked access token of the victim": {"subject_token", victimToken, "subject_token_type", "urn:ietf:params:oauth:token-type:access_token"},
		"the victim's pod token":              {"subject_token", podToken(t, w.teamA, "robot"), "subject_token_type", "urn:ietf:params:oauth:token-type:jwt"},
	} {
		r := testhttp.Post(t, issuer+"/oauth/token", testhttp.FormType, testhttp.Form(append([]string{"grant_type", string(v1alpha1.GrantTokenExchange)}, kv...)...),
			"Authorization", testhttp.Basic(evil, evilSecret))
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" || r.Body["access_token"] != nil {
			t.Errorf("exchange %s: %d %s, want 400 invalid_request", name, r.Status, r.Raw)
		}
	}
}

// assertionToken is a client_credentials token of id got with assertion.
func assertionToken(t *testing.T, assertion, id string) string {
	t.Helper()
	var tok string
	eventually(t, func() int {
		r := testhttp.Post(t, issuer+"/oauth/token", testhttp.FormType, testhttp.Form("grant_type", "client_credentials", "client_id", id,
			"client_assertion_type", jwtBearer, "client_assertion", assertion))
		tok, _ = r.Body["access_token"].(string)
		return r.Status
	}).Should(gomega.Equal(http.StatusOK))
	return tok
}

func signedAssertion(t *testing.T, key *ecdsa.PrivateKey, id string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	a, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{issuer + "/oauth/token"},
		ID: base64.RawURLEncoding.EncodeToString(jti), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

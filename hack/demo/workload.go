package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// The secretless client the demo adds for make bench: a ServiceAccount's
// token and a private_key_jwt key authenticate as it, and it has no secret.
const (
	workloadClient         = "workload"
	workloadServiceAccount = "workload"
	workloadKeyID          = "demo"
)

// workloadCreds are the files make bench's assertion scenarios read.
type workloadCreds struct {
	ClientID, TokenFile, KeyFile, KeyID string
}

// setupWorkload creates the ServiceAccount and the client, writes a
// ServiceAccount token for the issuer's audience (TokenRequest API) and the
// client's private key into dir, and waits until the token server accepts
// the token.
func setupWorkload(ctx context.Context, c client.Client, cfg *rest.Config, issuer, dir string) (*workloadCreds, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: workloadKeyID, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: workloadServiceAccount, Namespace: demoNamespace}}
	oc := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: workloadClient, Namespace: demoNamespace}, Spec: v1alpha1.OAuthClientSpec{
		Authentication: &v1alpha1.ClientAuthentication{
			ServiceAccounts: []string{workloadServiceAccount}, PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{JWKS: string(jwks)},
			ClientSecret: v1alpha1.ClientSecretNone,
		},
	}}
	for _, o := range []client.Object{sa, oc} {
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("create %s: %w", o.GetName(), err)
		}
	}
	w := &workloadCreds{ClientID: demoNamespace + "." + workloadClient, TokenFile: filepath.Join(dir, "workload-sa-token"),
		KeyFile: filepath.Join(dir, "workload-key.pem"), KeyID: workloadKeyID}
	tok, err := requestToken(ctx, cfg, issuer)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.TokenFile, []byte(tok), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return w, waitAccepted(ctx, issuer, w.ClientID, tok)
}

// requestToken is a one-hour token of the workload ServiceAccount for the
// issuer's audience, as the kubelet would project it.
func requestToken(ctx context.Context, cfg *rest.Config, issuer string) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	ttl := int64(3600)
	res, err := cs.CoreV1().ServiceAccounts(demoNamespace).CreateToken(ctx, workloadServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{issuer}, ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest: %w", err)
	}
	return res.Status.Token, nil
}

// waitAccepted polls the token endpoint with the ServiceAccount assertion
// until the client is Ready and in the token server's cache.
func waitAccepted(ctx context.Context, issuer, id, tok string) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tok}}
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/oauth/token", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the workload client was not accepted within a minute (last: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

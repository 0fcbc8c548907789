package integration_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// serviceAccountToken asks the API server for a token of the ServiceAccount
// ns/name (the TokenRequest API, what the kubelet projects into a pod) for
// audiences, bound to pod when it is not empty.
func serviceAccountToken(t testing.TB, ns, name string, audiences []string, pod *corev1.Pod) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ttl := int64(3600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &ttl}}
	if pod != nil {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	res, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, name, err)
	}
	return res.Status.Token
}

// saClientSpec is a client the ServiceAccounts sas authenticate as, with no
// static secret.
func saClientSpec(sas ...string) v1alpha1.OAuthClientSpec {
	return v1alpha1.OAuthClientSpec{
		Scopes:         []string{"read"},
		Authentication: &v1alpha1.ClientAuthentication{ServiceAccounts: sas, ClientSecret: v1alpha1.ClientSecretNone},
	}
}

// assertionConfig is the x/oauth2 client_credentials configuration a
// workload uses: no secret, the ServiceAccount token as client assertion.
func assertionConfig(base, id, assertion string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: id, TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {tokenserver.AssertionTypeJWTBearer},
			"client_assertion":      {assertion},
		},
	}
}

func assertionPost(t testing.TB, base, assertion string, kv ...string) response {
	t.Helper()
	return testhttp.Post(t, base+"/oauth/token", formType, form(append([]string{
		"grant_type", "client_credentials", "client_assertion_type", tokenserver.AssertionTypeJWTBearer, "client_assertion", assertion,
	}, kv...)...))
}

func wantInvalidClient(t testing.TB, r response, what string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" || r.Header.Get("WWW-Authenticate") == "" || r.Body["access_token"] != nil {
		t.Fatalf("%s: got %d %s, want 401 invalid_client with WWW-Authenticate", what, r.Status, r.Raw)
	}
}

func (f *fixture) serviceAccount(name string) *corev1.ServiceAccount {
	f.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	f.create(sa)
	return sa
}

// TestServiceAccountTokenRequestAuthenticates: a token from the TokenRequest
// API for the issuer's audience gets a client_credentials token through
// x/oauth2, with no client secret anywhere; the same ServiceAccount's token
// for the API server's audience is refused.
func TestServiceAccountTokenRequestAuthenticates(t *testing.T) {
	f := newFixture(t)
	f.serviceAccount("robot")
	id, secret := f.client("robot-client", saClientSpec("robot"))
	if secret != "" {
		t.Fatalf("credential Secret of a clientSecret: None client holds a client_secret")
	}
	tok, err := assertionConfig(issuer, id, serviceAccountToken(t, f.ns, "robot", []string{issuer}, nil)).Token(context.Background())
	if err != nil {
		t.Fatalf("x/oauth2 with a ServiceAccount assertion: %v", err)
	}
	if c := testhttp.JWTClaims(t, tok.AccessToken); c["client_id"] != id {
		t.Fatalf("token claims %v, want client_id %s", c, id)
	}
	apiAud := serviceAccountToken(t, f.ns, "robot", nil, nil)
	_, err = assertionConfig(issuer, id, apiAud).Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusUnauthorized || re.ErrorCode != "invalid_client" {
		t.Fatalf("a token for the API server's audience: %v, want 401 invalid_client", err)
	}
	wantInvalidClient(t, assertionPost(t, issuer, apiAud), "API server audience, no client_id")
}

// TestServiceAccountDeletedStopsWithinReviewTTL: once the ServiceAccount (or
// the pod a token is bound to) is deleted, its tokens stop authenticating
// within the review TTL.
func TestServiceAccountDeletedStopsWithinReviewTTL(t *testing.T) {
	base := startServer(t, tokenserver.Options{ServiceAccountReviewTTL: time.Second})
	f := newFixture(t)
	sa := f.serviceAccount("robot")
	f.serviceAccount("bound")
	id, _ := f.client("robot-client", saClientSpec("robot", "bound"))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: f.ns}, Spec: corev1.PodSpec{
		ServiceAccountName: "bound", Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}},
	}}
	f.create(pod)
	robot := serviceAccountToken(t, f.ns, "robot", []string{issuer}, nil)
	bound := serviceAccountToken(t, f.ns, "bound", []string{issuer}, pod)
	for name, tok := range map[string]string{"robot": robot, "bound": bound} {
		if r := assertionPost(t, base, tok, "client_id", id); r.Status != http.StatusOK {
			t.Fatalf("%s before deletion: %d %s", name, r.Status, r.Raw)
		}
	}
	if err := env.Client.Delete(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	for name, tok := range map[string]string{"deleted ServiceAccount": robot, "deleted pod": bound} {
		eventually(t, func() int { return assertionPost(t, base, tok, "client_id", id).Status }).
			WithTimeout(30*time.Second).Should(gomega.Equal(http.StatusUnauthorized), name)
		t.Logf("%s refused %s after the deletion", name, time.Since(deleted).Round(100*time.Millisecond))
	}
	// The API server caches its own token authentications for 10 s
	// (kube-apiserver's authentication token cache), on top of the 1 s here.
	if d := time.Since(deleted); d > 15*time.Second {
		t.Fatalf("deleted ServiceAccount and pod authenticated for %s with a 1s review TTL", d)
	}
	wantInvalidClient(t, assertionPost(t, base, robot, "client_id", id), "deleted ServiceAccount")
}

// TestServiceAccountOtherNamespaceRefused: a tenant's ServiceAccount token
// cannot authenticate as a client of another namespace, even one listing a
// ServiceAccount of the same name.
func TestServiceAccountOtherNamespaceRefused(t *testing.T) {
	victim, attacker := newFixture(t), newFixture(t)
	victim.serviceAccount("robot")
	attacker.serviceAccount("robot")
	id, _ := victim.client("robot-client", saClientSpec("robot"))
	tok := serviceAccountToken(t, attacker.ns, "robot", []string{issuer}, nil)
	wantInvalidClient(t, assertionPost(t, issuer, tok, "client_id", id), "another namespace's ServiceAccount")
	wantInvalidClient(t, testhttp.Post(t, issuer+"/clients/"+victim.ns+"/robot-client/token", formType, form(
		"grant_type", "client_credentials", "client_assertion_type", tokenserver.AssertionTypeJWTBearer, "client_assertion", tok)), "per-client URL")
}

// TestServiceAccountReviewsPerThousandRequests counts the TokenReview calls
// of 1,000 token requests from one pod's token: the target is one per token
// lifetime (within the review TTL), not one per request.
func TestServiceAccountReviewsPerThousandRequests(t *testing.T) {
	f := newFixture(t)
	f.serviceAccount("robot")
	id, _ := f.client("robot-client", saClientSpec("robot"))
	tok := serviceAccountToken(t, f.ns, "robot", []string{issuer}, nil)
	before := tokenReviewCalls(t)
	for i := range 1000 {
		if r := assertionPost(t, issuer, tok, "client_id", id); r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Raw)
		}
	}
	n := tokenReviewCalls(t) - before
	t.Logf("TokenReview calls for 1,000 requests with one ServiceAccount token: %d", n)
	if n != 1 {
		t.Fatalf("%d TokenReview calls, want 1", n)
	}
}

// tokenReviewCalls sums the TokenReviews the token servers of this process
// made (tokenwarden_serviceaccount_token_checks_total without "cached").
func tokenReviewCalls(t testing.TB) int {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "tokenwarden_serviceaccount_token_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabel(m, "result", "cached") {
				n += int(m.GetCounter().GetValue())
			}
		}
	}
	return n
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestServiceAccountOnlyClientTokenSecret: a workload token Secret works for
// a client that has no static secret (the controller issues in process).
func TestServiceAccountOnlyClientTokenSecret(t *testing.T) {
	f := newFixture(t)
	spec := saClientSpec("robot")
	spec.TokenSecrets = []v1alpha1.TokenSecret{{Name: "robot-token"}}
	id, _ := f.client("robot-client", spec)
	var s corev1.Secret
	eventually(t, func() string {
		_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "robot-token"}, &s)
		return string(s.Data["access_token"])
	}).ShouldNot(gomega.BeEmpty())
	if c := testhttp.JWTClaims(t, string(s.Data["access_token"])); c["client_id"] != id {
		t.Fatalf("token Secret holds a token of %v, want %s", c["client_id"], id)
	}
}

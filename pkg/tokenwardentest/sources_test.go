package tokenwardentest_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/pkg/verifier"
	"github.com/tokenwarden/tokenwarden/pkg/workload"
	"github.com/tokenwarden/tokenwarden/pkg/workload/workloadtest"
)

func newVerifier(t *testing.T) *verifier.Verifier {
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: tw.IssuerURL, Audience: []string{apiAudience}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestClientCredentialsSourceAcrossSecretRotation mounts the credential
// Secret as the kubelet would, rotates the client secret without overlap, and
// shows that the source works again as soon as the mount is updated.
func TestClientCredentialsSourceAcrossSecretRotation(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	creds, err := tw.CreateClient(ctx, &v1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "billing"},
		Spec: v1alpha1.OAuthClientSpec{
			Scopes: []string{"invoices.read"}, Audiences: []string{apiAudience},
			SecretRotation: &v1alpha1.SecretRotation{Interval: metav1.Duration{Duration: time.Hour}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "credentials")
	mountSecret(t, dir, creds.Secret)
	clk := clocktesting.NewFakePassiveClock(time.Now())
	src := workload.ClientCredentialsSource(ctx, dir, workload.ClientOptions{Clock: clk})
	v := newVerifier(t)
	verifySource := func() {
		t.Helper()
		tok, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	verifySource()

	rotated, err := tw.RotateClientSecret(ctx, types.NamespacedName{Namespace: ns, Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	old := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: creds.TokenURL}
	if _, err := old.Token(ctx); err == nil {
		t.Fatal("the old secret still works after a rotation without overlap")
	}
	// The cached token is still valid; once it needs renewing, the stale
	// mount fails, and the updated mount works without a new source.
	verifySource()
	clk.SetTime(clk.Now().Add(time.Hour))
	if _, err := src.Token(); err == nil {
		t.Fatal("a token was fetched with the rotated-out secret")
	}
	mountSecret(t, dir, rotated.Secret)
	verifySource()
}

func mountSecret(t *testing.T, dir string, s *corev1.Secret) {
	t.Helper()
	if err := workloadtest.WriteMount(dir, s.Data); err != nil {
		t.Fatal(err)
	}
}

// TestTokenSecretSourceAcrossMountSwap mounts a workload token Secret, has
// Tokenwarden issue a new token into it, and swaps the mount like the kubelet
// while requests verify tokens from the source.
func TestTokenSecretSourceAcrossMountSwap(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	_, err := tw.CreateClient(ctx, &v1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "billing"},
		Spec: v1alpha1.OAuthClientSpec{
			Scopes: []string{"invoices.read"}, Audiences: []string{apiAudience},
			TokenSecrets: []v1alpha1.TokenSecret{{Name: "billing-token"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	first := tokenSecret(t, ns, "")
	dir := filepath.Join(t.TempDir(), "token")
	mountSecret(t, dir, first)
	src := workload.TokenSecretSource(dir, workload.TokenOptions{})
	v := newVerifier(t)

	// Deleting the Secret makes Tokenwarden write it again with a new token.
	if err := tw.Client.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := tokenSecret(t, ns, string(first.Data["access_token"]))

	seen := whileReading(t, src, v, func() { mountSecret(t, dir, second) })
	tok, err := src.Token()
	if err != nil || tok.AccessToken != string(second.Data["access_token"]) {
		t.Fatalf("after the swap: %v, %v", tok, err)
	}
	if !seen[string(first.Data["access_token"])] {
		t.Error("the first token was never served")
	}

	// Tokens cleared (here: the Secret's files gone from the mount).
	mountSecret(t, dir, &corev1.Secret{Data: map[string][]byte{"issuer": []byte(tw.IssuerURL)}})
	if _, err := src.Token(); !errors.Is(err, workload.ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
}

// whileReading runs swap while four goroutines take tokens from src and
// verify them; any failure fails the test. It returns the tokens served.
func whileReading(t *testing.T, src oauth2.TokenSource, v *verifier.Verifier, swap func()) map[string]bool {
	t.Helper()
	var stop atomic.Bool
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				tok, err := src.Token()
				if err == nil {
					_, err = v.Verify(context.Background(), tok.AccessToken)
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[tok.AccessToken] = true
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	swap()
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return seen
}

// tokenSecret waits until the token Secret holds an access token other than
// previous and returns it.
func tokenSecret(t *testing.T, ns, previous string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := tw.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "billing-token"}, &s)
		if token := string(s.Data["access_token"]); err == nil && token != "" && token != previous {
			return &s
		}
		if time.Now().After(deadline) {
			t.Fatalf("token Secret: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package tenancy_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// Attack 7, first half: a password hash whose verification would take a
// gigabyte or minutes of CPU is refused by the API server, with a message
// naming the limit, before the operator ever sees it.
func TestAttackCostlyPasswordHashRefused(t *testing.T) {
	w := newWorld(t)
	cost4, err := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	const argonTail = "$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	for _, tc := range []struct {
		name, hash, message string
	}{
		{"argon2id m=1GiB", "$argon2id$v=19$m=1048576,t=1,p=1" + argonTail, "argon2id memory m must be set and at most 65536 KiB"},
		{"argon2id t=100", "$argon2id$v=19$m=65536,t=100,p=1" + argonTail, "argon2id time t must be set and at most 4"},
		{"argon2id p=64", "$argon2id$v=19$m=65536,t=1,p=64" + argonTail, "argon2id parallelism p must be set and at most 4"},
		{"bcrypt cost 17", "$2b$17$" + string(cost4[7:]), "bcrypt cost must be 04..12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &v1alpha1.OAuthUser{
				ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, GenerateName: "heavy-"},
				Spec:       v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: tc.hash}},
			}
			err := w.attacker.Create(context.Background(), u)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("create: %v, want Invalid naming %q", err, tc.message)
			}
		})
	}
}

// Attack 7, second half: a burst of sign-ins against cost-12 users (the most
// the API accepts; cost 8 under the race detector) meets the process-wide hash limiter: whatever does not
// fit is 503 temporarily_unavailable with Retry-After at once, never a 500
// and never a queue, and the manager keeps serving everyone. The users are
// several because the sign-in throttle lets only one verification per user
// and source run at a time.
func TestAttackSignInBurstMeetsHashLimiter(t *testing.T) {
	w := newWorld(t)
	cost := 12
	if raceEnabled {
		// Under the race detector one cost-12 verification takes longer
		// than the server's write timeout; the limiter does not depend on
		// the cost.
		cost = 8
	}
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), cost)
	if err != nil {
		t.Fatal(err)
	}
	const users, perUser = 6, 2
	for i := range users {
		newUser(t, w.attacker, w.evil, fmt.Sprintf("slow%d", i), v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: string(h)}})
	}
	id, secret := newClient(t, w.attacker, w.evil, "app", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})

	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range users * perUser {
		wg.Go(func() {
			r, err := testhttp.PostForm(nil, issuer+"/oauth/token", id, secret,
				"grant_type", "password", "username", fmt.Sprintf("slow%d", i%users), "password", "guess")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("sign-in: %v", err)
				return
			}
			got[fmt.Sprintf("%d %v", r.Status, r.Body["error"])]++
			if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %s", r.Raw)
			}
		})
	}
	wg.Wait()
	for k := range got {
		if k != "400 invalid_grant" && k != "503 temporarily_unavailable" {
			t.Errorf("answer %q in the burst: want only 400 invalid_grant and 503 temporarily_unavailable", k)
		}
	}
	if got["503 temporarily_unavailable"] == 0 || got["400 invalid_grant"] == 0 {
		t.Fatalf("answers %v: want some verified (400) and some refused by the full limiter (503)", got)
	}

	// The manager still serves: keys, other tenants' tokens, and the right
	// password once the burst is over.
	if r := testhttp.Send(t, http.MethodGet, issuer+"/.well-known/jwks.json", "", nil); r.Status != http.StatusOK {
		t.Fatalf("JWKS after the burst: %d", r.Status)
	}
	aid, asecret := newClient(t, env.Client, w.teamA, "after", v1alpha1.OAuthClientSpec{})
	wantToken(t, clientCredentials(t, aid, asecret))
	eventually(t, func() int {
		return passwordGrant(t, id, secret, "slow0", "correct horse").Status
	}).Should(gomega.Equal(http.StatusOK))
}

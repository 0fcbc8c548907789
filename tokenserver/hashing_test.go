package tokenserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// A disabled user's right password gets the answer a wrong one gets: the
// token endpoint does not confirm passwords of disabled accounts.
func TestDisabledUserAnswersLikeWrongPassword(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	_, pw := f.User("dora", v1alpha1.OAuthUserSpec{Disabled: true})
	right := post(t, "/oauth/token", formType, form("grant_type", "password", "username", "dora", "password", pw), "Authorization", testhttp.Basic(id, secret))
	wrong := post(t, "/oauth/token", formType, form("grant_type", "password", "username", "dora", "password", pw+"x"), "Authorization", testhttp.Basic(id, secret))
	unknown := post(t, "/oauth/token", formType, form("grant_type", "password", "username", "nobody", "password", pw), "Authorization", testhttp.Basic(id, secret))
	for _, r := range []response{right, wrong, unknown} {
		rqWantError(t, r, http.StatusBadRequest, "invalid_grant")
		if r.Body["error_description"] != right.Body["error_description"] {
			t.Fatalf("answers differ: %q / %q / %q", right.Body["error_description"], wrong.Body["error_description"], unknown.Body["error_description"])
		}
	}
}

// With every hash-verification slot taken, a sign-in is answered 503
// temporarily_unavailable with Retry-After at once, never queued and never a
// 500.
func TestHashVerificationLimit(t *testing.T) {
	f := newFixture(t)
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), 12)
	if err != nil {
		t.Fatal(err)
	}
	// One user per request: the throttle lets one verification per user and
	// source run at a time, so the limit is what the other requests meet.
	for i := range 6 {
		f.User(fmt.Sprintf("slow%d", i), v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: string(h)}})
	}
	id, secret := f.Client("app", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	base := startServer(t, tokenserver.Options{HashConcurrency: 1})
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			body := form("grant_type", "password", "username", fmt.Sprintf("slow%d", i), "password", "guess")
			req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", formType)
			req.Header.Set("Authorization", testhttp.Basic(id, secret))
			r := do(t, req)
			mu.Lock()
			defer mu.Unlock()
			got[r.Status]++
			if r.Status == http.StatusServiceUnavailable && (r.Body["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "") {
				t.Errorf("503 without temporarily_unavailable and Retry-After: %s", r.Raw)
			}
		})
	}
	wg.Wait()
	if got[http.StatusServiceUnavailable] == 0 || got[http.StatusInternalServerError] > 0 || got[http.StatusBadRequest] == 0 {
		t.Fatalf("statuses %v: want some 400 invalid_grant, some 503, no 500", got)
	}
}

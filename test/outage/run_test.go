package outage_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// tally counts answers per request kind.
type tally map[string]map[string]int

func (t tally) add(kind string, a answer) {
	if t[kind] == nil {
		t[kind] = map[string]int{}
	}
	t[kind][a.String()]++
}

// runOutage sends requests for d while the API server is unreachable and
// fails t for every answer that is not what the issue asks: 200 for
// client_credentials, password without a refresh family, the JWKS and
// /readyz; 503 temporarily_unavailable with Retry-After for a refresh and
// for a sign-in that would start a refresh family.
func runOutage(t *testing.T, d time.Duration, base, probes string, svc, app credentials, signIn url.Values,
	refreshWith func(string) answer, rt string) tally {
	t.Helper()
	served := tally{}
	check := func(kind string, a answer, ok func(answer) bool) {
		served.add(kind, a)
		if !ok(a) {
			t.Errorf("%s during the outage: %v", kind, a)
		}
	}
	is200 := func(a answer) bool { return a.err == nil && a.status == http.StatusOK }
	unavailable := func(a answer) bool {
		return a.err == nil && a.status == http.StatusServiceUnavailable && a.code == "temporarily_unavailable" && a.retryAfter != "" && a.refresh == ""
	}
	deadline := time.Now().Add(d)
	for i := 0; time.Now().Before(deadline); i++ {
		check("client_credentials", token(base, svc.id, svc.secret, url.Values{"grant_type": {"client_credentials"}}), is200)
		check("password (no refresh family)", token(base, svc.id, svc.secret, signIn), is200)
		check("jwks", get(base+"/.well-known/jwks.json"), is200)
		check("readyz", get(probes+"/readyz"), is200)
		if i%5 == 0 {
			check("refresh_token", refreshWith(rt), unavailable)
			check("password (new refresh family)", token(base, app.id, app.secret, signIn), unavailable)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if t.Failed() {
		t.Log(fmt.Sprint(served))
	}
	return served
}

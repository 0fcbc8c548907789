package servertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// Refresh-token helpers and the refresh scenarios that run twice on purpose:
// over the memory stores in tokenserver (the protocol) and over the API
// server in test/integration (cache lag, replicas writing through the API
// server). Credentials go in the form body (client_secret_post).

// RefreshClient is a client that may use the password grant and refresh
// tokens, with scopes.
func RefreshClient(scopes ...string) v1alpha1.OAuthClientSpec {
	return v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     scopes,
	}
}

// PostTo posts the form body to base+path with hc; it does not fail a test,
// so goroutines may call it.
func PostTo(hc *http.Client, base, path, body string) (testhttp.Response, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return testhttp.Response{}, err
	}
	req.Header.Set("Content-Type", testhttp.FormType)
	return testhttp.Do(hc, req)
}

// PasswordGrant signs username in with the password grant at base; scope
// is sent when not empty.
func PasswordGrant(t testing.TB, base, id, secret, username, pw, scope string) testhttp.Response {
	t.Helper()
	kv := []string{"grant_type", "password", "username", username, "password", pw, "client_id", id, "client_secret", secret}
	if scope != "" {
		kv = append(kv, "scope", scope)
	}
	return testhttp.Post(t, base+"/oauth/token", testhttp.FormType, testhttp.Form(kv...))
}

// RefreshGrant uses the refresh token rt at base, with the extra form
// pairs kv.
func RefreshGrant(t testing.TB, base, id, secret, rt string, kv ...string) testhttp.Response {
	t.Helper()
	return testhttp.Post(t, base+"/oauth/token", testhttp.FormType, refreshForm(id, secret, rt, kv...))
}

func refreshForm(id, secret, rt string, kv ...string) string {
	return testhttp.Form(append([]string{"grant_type", "refresh_token", "refresh_token", rt, "client_id", id, "client_secret", secret}, kv...)...)
}

// WantRefreshToken fails unless r is a successful token response with an
// access and a refresh token, and returns the refresh token.
func WantRefreshToken(t testing.TB, r testhttp.Response, what string) string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", what, r.Status, r.Raw)
	}
	rt, _ := r.Body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("%s: no refresh_token in %s", what, r.Raw)
	}
	if at, _ := r.Body["access_token"].(string); at == "" {
		t.Fatalf("%s: no access_token in %s", what, r.Raw)
	}
	return rt
}

// WantError fails unless r is the OAuth error code with the status.
func WantError(t testing.TB, r testhttp.Response, status int, code, what string) {
	t.Helper()
	if r.Status != status || r.Body["error"] != code {
		t.Fatalf("%s: got status %d body %s, want %d %s", what, r.Status, r.Raw, status, code)
	}
}

// Introspect asks the introspection endpoint at base about tok as the
// client id, and returns the answer's JSON.
func Introspect(t testing.TB, base, id, secret, tok string) map[string]any {
	t.Helper()
	r := testhttp.Post(t, base+"/oauth/introspect", testhttp.FormType, testhttp.Form("token", tok, "client_id", id, "client_secret", secret))
	if r.Status != http.StatusOK {
		t.Fatalf("introspect: status %d body %s", r.Status, r.Raw)
	}
	return r.Body
}

// Revoke revokes tok at base as the client id (RFC 7009) and returns the
// answer.
func Revoke(t testing.TB, base, id, secret, tok string) testhttp.Response {
	t.Helper()
	return testhttp.Post(t, base+"/oauth/revoke", testhttp.FormType, testhttp.Form("token", tok, "client_id", id, "client_secret", secret))
}

// TokenParts splits a refresh token "twr_<family>_<secret>".
func TokenParts(t testing.TB, rt string) (family, secret string) {
	t.Helper()
	rest, ok := strings.CutPrefix(rt, "twr_")
	if ok {
		family, secret, ok = strings.Cut(rest, "_")
	}
	if !ok {
		t.Fatalf("refresh token %q is not twr_<family>_<secret>", rt)
	}
	return family, secret
}

// FakeClockServer starts a server with start (a suite's way to start one
// over its state) and a fake clock, which it returns with the base URL.
func FakeClockServer(t testing.TB, start func(testing.TB, tokenserver.Options) string, o tokenserver.Options) (string, *clocktesting.FakeClock) {
	t.Helper()
	fc := clocktesting.NewFakeClock(time.Now())
	o.Clock = fc
	return start(t, o), fc
}

// WantDigestsOnly fails unless stored, the bytes a store keeps for a
// family, holds none of the issued refresh tokens or their secrets in
// plaintext (nor Base64) and holds a SHA-256 digest of the current (last)
// one.
func WantDigestsOnly(t testing.TB, stored []byte, issued []string, what string) {
	t.Helper()
	for _, tok := range issued {
		_, sec := TokenParts(t, tok)
		for _, plain := range []string{tok, sec, base64.StdEncoding.EncodeToString([]byte(sec)), base64.RawURLEncoding.EncodeToString([]byte(sec))} {
			if bytes.Contains(stored, []byte(plain)) {
				t.Fatalf("%s holds a refresh token in plaintext: %q", what, stored)
			}
		}
	}
	cur := issued[len(issued)-1]
	_, sec := TokenParts(t, cur)
	d1, d2 := sha256.Sum256([]byte(sec)), sha256.Sum256([]byte(cur))
	if !bytes.Contains(stored, []byte(hex.EncodeToString(d1[:]))) && !bytes.Contains(stored, []byte(hex.EncodeToString(d2[:]))) {
		t.Fatalf("%s holds no SHA-256 digest of the current token: %s", what, stored)
	}
}

// RaceOutcome is one answer of a race.
type RaceOutcome struct {
	Server string
	Resp   testhttp.Response
	Err    error
}

// RaceRefresh fires n concurrent refreshes of rt, alternating between the
// servers, released together.
func RaceRefresh(servers []string, id, secret, rt string, n int) []RaceOutcome {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	out := make([]RaceOutcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := servers[i%len(servers)]
			<-start
			r, err := PostTo(hc, base, "/oauth/token", refreshForm(id, secret, rt))
			out[i] = RaceOutcome{Server: base, Resp: r, Err: err}
		}(i)
	}
	close(start)
	wg.Wait()
	return out
}

// RaceTally sorts the answers of a race: the successors handed out, the
// invalid_grant refusals, server errors, and anything else.
type RaceTally struct {
	Successors, ServerErrors, Other []string
	Refused                         int
}

// CountRace tallies outs; t fails when an answer is neither a token, nor
// invalid_grant, nor a server error, or when one successor was handed out
// twice.
func CountRace(t testing.TB, outs []RaceOutcome) RaceTally {
	t.Helper()
	var c RaceTally
	for _, o := range outs {
		switch {
		case o.Err != nil:
			c.Other = append(c.Other, o.Err.Error())
		case o.Resp.Status == 200:
			next := WantRefreshToken(t, o.Resp, "racer")
			if slices.Contains(c.Successors, next) {
				t.Fatal("the same successor was handed out twice")
			}
			c.Successors = append(c.Successors, next)
		case o.Resp.Status == 400 && o.Resp.Body["error"] == "invalid_grant":
			c.Refused++
		case o.Resp.Status >= 500:
			c.ServerErrors = append(c.ServerErrors, fmt.Sprintf("%s: %d %s", o.Server, o.Resp.Status, o.Resp.Raw))
		default:
			c.Other = append(c.Other, fmt.Sprintf("%s: %d %s", o.Server, o.Resp.Status, o.Resp.Raw))
		}
	}
	if len(c.Other) > 0 {
		t.Fatalf("answers that are neither a token nor invalid_grant: %v", c.Other)
	}
	return c
}

package tokenserver_test

// Integration tests of refresh-token families and of the session lifecycle:
// rotation, replay detection, the grace window, idle and absolute expiry,
// scope narrowing, client binding, two replicas racing on one token, the
// sign-in throttle, and what disabling or deleting a user or a client does to
// sessions that already exist. Everything goes over HTTP to a token server
// over the in-memory stores; time-based behaviour uses extra server instances
// with a fake clock (startServer). The stored form of a family, owner
// references, cache lag, replicas racing through the API server and what the
// controllers do to sessions are tested in test/integration.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// ---- helpers (prefixed rf to stay clear of the package's other test files) ----

// rfSpec is a client that may use the password grant and refresh tokens.
func rfSpec(scopes ...string) v1alpha1.OAuthClientSpec {
	return v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     scopes,
	}
}

// rfDo sends req with hc and returns the answer without failing the test, so
// it can be used from several goroutines.
func rfDo(hc *http.Client, req *http.Request) (response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

func rfSend(hc *http.Client, base, path, body string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", formType)
	return rfDo(hc, req)
}

// rfPost posts a form to base+path.
func rfPost(t testing.TB, base, path, body string) response {
	t.Helper()
	r, err := rfSend(http.DefaultClient, base, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rfPassword(t testing.TB, base, id, secret, username, pw, scope string) response {
	t.Helper()
	kv := []string{"grant_type", "password", "username", username, "password", pw, "client_id", id, "client_secret", secret}
	if scope != "" {
		kv = append(kv, "scope", scope)
	}
	return rfPost(t, base, "/oauth/token", form(kv...))
}

func rfRefresh(t testing.TB, base, id, secret, rt string, kv ...string) response {
	t.Helper()
	return rfPost(t, base, "/oauth/token", form(append([]string{"grant_type", "refresh_token", "refresh_token", rt, "client_id", id, "client_secret", secret}, kv...)...))
}

// rfOK fails unless r is a successful token response with a refresh token,
// and returns the refresh token.
func rfOK(t testing.TB, r response, what string) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", what, r.status, r.raw)
	}
	rt, _ := r.body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("%s: no refresh_token in %s", what, r.raw)
	}
	if at, _ := r.body["access_token"].(string); at == "" {
		t.Fatalf("%s: no access_token in %s", what, r.raw)
	}
	return rt
}

// rfErr fails unless r is the OAuth error code with the status.
func rfErr(t testing.TB, r response, status int, code, what string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("%s: got status %d body %s, want %d %s", what, r.status, r.raw, status, code)
	}
}

func rfIntrospect(t testing.TB, base, id, secret, tok string) map[string]any {
	t.Helper()
	r := rfPost(t, base, "/oauth/introspect", form("token", tok, "client_id", id, "client_secret", secret))
	if r.status != http.StatusOK {
		t.Fatalf("introspect: status %d body %s", r.status, r.raw)
	}
	return r.body
}

// rfTokenParts splits a refresh token "twr_<family>_<secret>".
func rfTokenParts(t testing.TB, rt string) (family, secret string) {
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

// rfFamily reads the family record of rt from the in-memory store.
func rfFamily(t testing.TB, ns, rt string) (*store.Family, error) {
	t.Helper()
	fam, _ := rfTokenParts(t, rt)
	return h.Mem.Families.Get(context.Background(), ns, fam)
}

// rfFamilyGone fails unless the family of rt was removed.
func rfFamilyGone(t testing.TB, ns, rt, what string) {
	t.Helper()
	if _, err := rfFamily(t, ns, rt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: the family record is still there (%v)", what, err)
	}
}

// rfFakeServer starts a token server with a fake clock.
func rfFakeServer(t testing.TB, o tokenserver.Options) (string, *clocktesting.FakeClock) {
	t.Helper()
	fc := clocktesting.NewFakeClock(time.Now())
	o.Clock = fc
	return startServer(t, o), fc
}

func rfScopeClaim(t *testing.T, r response) string {
	t.Helper()
	at, _ := r.body["access_token"].(string)
	_, claims := accessClaims(t, at)
	s, _ := claims["scope"].(string)
	return s
}

// ---- rotation, replay, grace ----

// Every use of a refresh token returns a new one, which works; the cluster
// keeps only digests.
func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})

	r := rfPassword(t, issuer, id, secret, "alice", pw, "")
	cur := rfOK(t, r, "password grant")
	issued := []string{cur}
	accessTokens := []string{r.body["access_token"].(string)}
	for i := 1; i <= 3; i++ {
		r := rfRefresh(t, issuer, id, secret, cur)
		next := rfOK(t, r, fmt.Sprintf("refresh %d", i))
		if slices.Contains(issued, next) {
			t.Fatalf("refresh %d returned a refresh token already issued", i)
		}
		at := r.body["access_token"].(string)
		if slices.Contains(accessTokens, at) {
			t.Fatalf("refresh %d returned an access token already issued", i)
		}
		if r.body["token_type"] != "Bearer" || r.body["scope"] != "orders.read" {
			t.Fatalf("refresh %d: %s", i, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Fatalf("refresh %d: caching headers %v", i, r.header)
		}
		issued, accessTokens, cur = append(issued, next), append(accessTokens, at), next
	}

	// One family, holding no plaintext. (Its Secret, labels and owner are
	// test/integration's TestRefreshRotation.)
	fam, _ := rfTokenParts(t, cur)
	for _, tok := range issued {
		if id, _ := rfTokenParts(t, tok); id != fam {
			t.Fatalf("rotation left the family: %s then %s", id, fam)
		}
	}
	rec, err := rfFamily(t, f.NS, cur)
	if err != nil {
		t.Fatalf("family record: %v", err)
	}
	all, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range issued {
		_, sec := rfTokenParts(t, tok)
		for _, plain := range []string{tok, sec, base64.StdEncoding.EncodeToString([]byte(sec)), base64.RawURLEncoding.EncodeToString([]byte(sec))} {
			if bytes.Contains(all, []byte(plain)) {
				t.Fatalf("the family record holds a refresh token in plaintext: %s", all)
			}
		}
	}
	// What it holds for the current token is a SHA-256 digest.
	_, sec := rfTokenParts(t, cur)
	d1, d2 := sha256.Sum256([]byte(sec)), sha256.Sum256([]byte(cur))
	if !bytes.Contains(all, []byte(hex.EncodeToString(d1[:]))) && !bytes.Contains(all, []byte(hex.EncodeToString(d2[:]))) {
		t.Fatalf("the family record holds no SHA-256 digest of the current token: %s", all)
	}
}

// Presenting a superseded token outside the grace window revokes the whole
// family (RFC 9700 §4.14.2): the successors stop working too.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 2 * time.Second})

	// (Using a token in the instant after the revocation, before the cache
	// saw it, is test/integration's TestRefreshRightAfterRevocation.)
	revoked := func(t *testing.T, tokens ...string) {
		t.Helper()
		rfFamilyGone(t, f.NS, tokens[0], "family of a replayed token")
		for _, tok := range tokens {
			rfErr(t, rfRefresh(t, base, id, secret, tok), 400, "invalid_grant", "a token of the revoked family")
		}
		for _, tok := range tokens {
			if a := rfIntrospect(t, base, id, secret, tok)["active"]; a != false {
				t.Fatalf("introspection of a revoked family's token: active %v", a)
			}
		}
	}

	t.Run("predecessor replayed after the grace window", func(t *testing.T) {
		r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := rfOK(t, rfRefresh(t, base, id, secret, r1), "first refresh")
		fc.Step(3 * time.Second)
		rfErr(t, rfRefresh(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		revoked(t, r2)
	})

	t.Run("replay after the legitimate holder moved on", func(t *testing.T) {
		r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := rfOK(t, rfRefresh(t, base, id, secret, r1), "R1")
		fc.Step(3 * time.Second)
		r3 := rfOK(t, rfRefresh(t, base, id, secret, r2), "R2")
		fc.Step(3 * time.Second)
		rfErr(t, rfRefresh(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		revoked(t, r3, r2)
	})

	t.Run("older ancestor replayed within the grace window", func(t *testing.T) {
		// The grace window covers an honest retry of the last request only:
		// R1 after R2 was itself used is no retry, whatever the time.
		r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := rfOK(t, rfRefresh(t, base, id, secret, r1), "R1")
		r3 := rfOK(t, rfRefresh(t, base, id, secret, r2), "R2")
		rfErr(t, rfRefresh(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		revoked(t, r3)
	})

	t.Run("a new sign-in starts a new, working family", func(t *testing.T) {
		r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		rfOK(t, rfRefresh(t, base, id, secret, r1), "fresh family")
	})
}

// Within the grace window, presenting the just-superseded token again is an
// honest retry: it is answered, and the family lives on with exactly one
// valid token.
func TestRefreshGraceWindow(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 10 * time.Second})

	r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
	r2 := rfOK(t, rfRefresh(t, base, id, secret, r1), "first use of R1")
	fc.Step(5 * time.Second)
	retry := rfRefresh(t, base, id, secret, r1)
	r2b := rfOK(t, retry, "retry of R1 within the grace window")
	if retry.body["scope"] != "orders.read" {
		t.Fatalf("retry: %s", retry.raw)
	}
	if _, err := rfFamily(t, f.NS, r1); err != nil {
		t.Fatalf("the retry revoked the family: %v", err)
	}

	// Exactly one of the successors is valid (the server documents that the
	// retry replaces the successor, so it is R2b; R2, whose answer the client
	// is assumed to have lost, no longer works).
	active := map[string]bool{}
	for _, tok := range []string{r2, r2b} {
		active[tok] = rfIntrospect(t, base, id, secret, tok)["active"] == true
	}
	n := 0
	for _, a := range active {
		if a {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("after the retry %d distinct successors are active (R2 %v, R2' %v), want exactly one", n, active[r2], active[r2b])
	}
	if !active[r2b] {
		t.Fatal("the successor returned by the retry is not the valid one")
	}
	// The family goes on.
	fc.Step(time.Second)
	r3 := rfOK(t, rfRefresh(t, base, id, secret, r2b), "successor of the retry")
	fc.Step(20 * time.Second)
	rfOK(t, rfRefresh(t, base, id, secret, r3), "later use")
}

// ---- lifetimes ----

func TestRefreshIdleExpiry(t *testing.T) {
	f := newFixture(t)
	spec := rfSpec("orders.read")
	spec.RefreshTokenIdleTTL = &metav1.Duration{Duration: time.Minute}
	id, secret := f.Client("app", spec)
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 2 * time.Second})

	t.Run("unused for longer than the idle lifetime", func(t *testing.T) {
		rt := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		fc.Step(61 * time.Second)
		rfErr(t, rfRefresh(t, base, id, secret, rt), 400, "invalid_grant", "refresh after 61s idle")
		if a := rfIntrospect(t, base, id, secret, rt)["active"]; a != false {
			t.Fatalf("idle-expired token introspects active=%v", a)
		}
	})

	t.Run("used every 50s it outlives the idle lifetime", func(t *testing.T) {
		rt := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		for i := 1; i <= 4; i++ {
			fc.Step(50 * time.Second)
			rt = rfOK(t, rfRefresh(t, base, id, secret, rt), fmt.Sprintf("use after %ds", 50*i))
		}
		// And the idle clock restarts at the last use.
		fc.Step(61 * time.Second)
		rfErr(t, rfRefresh(t, base, id, secret, rt), 400, "invalid_grant", "refresh 61s after the last use")
	})
}

func TestRefreshAbsoluteExpiry(t *testing.T) {
	f := newFixture(t)
	spec := rfSpec("orders.read")
	spec.RefreshTokenTTL = &metav1.Duration{Duration: 5 * time.Minute}
	spec.RefreshTokenIdleTTL = &metav1.Duration{Duration: time.Minute}
	id, secret := f.Client("app", spec)
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 2 * time.Second})

	rt := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
	for i := 1; i <= 5; i++ {
		fc.Step(50 * time.Second)
		rt = rfOK(t, rfRefresh(t, base, id, secret, rt), fmt.Sprintf("use after %ds", 50*i))
	}
	fc.Step(50 * time.Second) // 300s: the absolute lifetime is over
	rfErr(t, rfRefresh(t, base, id, secret, rt), 400, "invalid_grant", "refresh after the absolute lifetime")
	// A new sign-in starts a new family.
	rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "new sign-in")
}

// ---- scope ----

// A refresh may narrow the scope; a scope outside the original grant is
// invalid_scope; and, per RFC 6749 §6, a later refresh may ask for the
// original scope again (omitted scope "is treated as equal to the scope
// originally granted by the resource owner").
func TestRefreshScopeNarrowing(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read", "orders.write", "reports.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})

	r := rfPassword(t, issuer, id, secret, "alice", pw, "orders.read orders.write")
	rt := rfOK(t, r, "password grant")
	if r.body["scope"] != "orders.read orders.write" {
		t.Fatalf("password grant scope %v", r.body["scope"])
	}

	r = rfRefresh(t, issuer, id, secret, rt, "scope", "orders.read")
	rt = rfOK(t, r, "narrowing refresh")
	if r.body["scope"] != "orders.read" || rfScopeClaim(t, r) != "orders.read" {
		t.Fatalf("narrowed refresh: scope %v, access token scope %q", r.body["scope"], rfScopeClaim(t, r))
	}

	r = rfRefresh(t, issuer, id, secret, rt)
	rt = rfOK(t, r, "refresh without scope after narrowing")
	if r.body["scope"] != "orders.read orders.write" || rfScopeClaim(t, r) != "orders.read orders.write" {
		t.Fatalf("omitted scope must mean the original grant (RFC 6749 §6): scope %v, access token %q", r.body["scope"], rfScopeClaim(t, r))
	}

	r = rfRefresh(t, issuer, id, secret, rt, "scope", "orders.write orders.read")
	rt = rfOK(t, r, "asking for the original scope explicitly")
	if sc := strings.Fields(rfScopeClaim(t, r)); len(sc) != 2 || !slices.Contains(sc, "orders.read") || !slices.Contains(sc, "orders.write") {
		t.Fatalf("access token scope %v", sc)
	}

	// Wider than the original grant: the client may have reports.read, the
	// grant does not.
	r = rfRefresh(t, issuer, id, secret, rt, "scope", "orders.read reports.read")
	rfErr(t, r, 400, "invalid_scope", "scope beyond the original grant")
	if r.body["access_token"] != nil || r.body["refresh_token"] != nil {
		t.Fatalf("an error carried tokens: %s", r.raw)
	}
	// A scope the client may not have at all.
	rfErr(t, rfRefresh(t, issuer, id, secret, rt, "scope", "orders.admin"), 400, "invalid_scope", "scope outside the client's")
}

// A refresh request that is refused (here invalid_scope) issued nothing, so
// the client still holds a valid token (RFC 6749 §6: the client discards the
// old refresh token only when a new one is issued). The server must not have
// rotated it away, and presenting it later must not count as a replay.
func TestRefreshRejectedScopeKeepsToken(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read", "orders.write", "reports.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 2 * time.Second})

	rt := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, "orders.read orders.write"), "password grant")
	rfErr(t, rfRefresh(t, base, id, secret, rt, "scope", "reports.read"), 400, "invalid_scope", "scope beyond the grant")
	fc.Step(3 * time.Second)
	r := rfRefresh(t, base, id, secret, rt)
	rfOK(t, r, "the token after a refused request")
	if _, err := rfFamily(t, f.NS, rt); err != nil {
		t.Fatalf("family gone after a refused request: %v", err)
	}
}

// A scope removed from the client stops being issued on refresh: the family's
// original grant cannot outlive what the client may request.
func TestRefreshAfterClientLosesScope(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read", "orders.write"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	rt := rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, "orders.read orders.write"), "password grant")

	if _, err := h.ChangeClient(f.NS, "app", func(c *v1alpha1.OAuthClient) { c.Spec.Scopes = []string{"orders.read"} }); err != nil {
		t.Fatal(err)
	}
	r := rfRefresh(t, issuer, id, secret, rt)
	if r.status == http.StatusOK {
		if sc := strings.Fields(rfScopeClaim(t, r)); slices.Contains(sc, "orders.write") || strings.Contains(fmt.Sprint(r.body["scope"]), "orders.write") {
			t.Fatalf("refresh issued scope %q that the client no longer has (response scope %v)", sc, r.body["scope"])
		}
		return
	}
	if r.status != 400 || (r.body["error"] != "invalid_scope" && r.body["error"] != "invalid_grant") {
		t.Fatalf("refresh after the client lost a scope: %d %s", r.status, r.raw)
	}
}

// ---- binding ----

// A refresh token works only for the client it was issued to.
func TestRefreshBoundToClient(t *testing.T) {
	f := newFixture(t)
	idA, secretA := f.Client("a", rfSpec("orders.read"))
	idB, secretB := f.Client("b", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	other := newFixture(t)
	idC, secretC := other.Client("c", rfSpec("orders.read"))

	rt := rfOK(t, rfPassword(t, issuer, idA, secretA, "alice", pw, ""), "password grant")
	rfErr(t, rfRefresh(t, issuer, idB, secretB, rt), 400, "invalid_grant", "client b presenting a's token")
	rfErr(t, rfRefresh(t, issuer, idC, secretC, rt), 400, "invalid_grant", "client of another namespace presenting a's token")
	if a := rfIntrospect(t, issuer, idB, secretB, rt)["active"]; a != false {
		t.Fatalf("client b introspecting a's refresh token: active %v", a)
	}
	// Revocation by another client has no effect (RFC 7009 §2.1).
	if r := rfPost(t, issuer, "/oauth/revoke", form("token", rt, "client_id", idB, "client_secret", secretB)); r.status != 200 {
		t.Fatalf("revoke by another client: %d %s", r.status, r.raw)
	}
	// Nothing another client did touched a's token.
	rfOK(t, rfRefresh(t, issuer, idA, secretA, rt), "owner's refresh after foreign attempts")
}

// ---- two replicas racing ----

type rfOutcome struct {
	server string
	resp   response
	err    error
}

// rfRace fires n concurrent refreshes of rt, alternating between the servers,
// released together.
func rfRace(servers []string, id, secret, rt string, n int) []rfOutcome {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	out := make([]rfOutcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := servers[i%len(servers)]
			<-start
			r, err := rfSend(hc, base, "/oauth/token", form("grant_type", "refresh_token", "refresh_token", rt, "client_id", id, "client_secret", secret))
			out[i] = rfOutcome{server: base, resp: r, err: err}
		}(i)
	}
	close(start)
	wg.Wait()
	return out
}

// rfTally sorts the answers of a race: the successors handed out, the
// invalid_grant refusals, server errors, and anything else.
type rfTally struct {
	successors, serverErrors, other []string
	refused                         int
}

func rfCount(t *testing.T, outs []rfOutcome) rfTally {
	t.Helper()
	var c rfTally
	for _, o := range outs {
		switch {
		case o.err != nil:
			c.other = append(c.other, o.err.Error())
		case o.resp.status == 200:
			next := rfOK(t, o.resp, "racer")
			if slices.Contains(c.successors, next) {
				t.Fatal("the same successor was handed out twice")
			}
			c.successors = append(c.successors, next)
		case o.resp.status == 400 && o.resp.body["error"] == "invalid_grant":
			c.refused++
		case o.resp.status >= 500:
			c.serverErrors = append(c.serverErrors, fmt.Sprintf("%s: %d %s", o.server, o.resp.status, o.resp.raw))
		default:
			c.other = append(c.other, fmt.Sprintf("%s: %d %s", o.server, o.resp.status, o.resp.raw))
		}
	}
	if len(c.other) > 0 {
		t.Fatalf("answers that are neither a token nor invalid_grant: %v", c.other)
	}
	return c
}

// Two replicas over the same stores receive the same refresh token at once,
// outside any grace window: exactly one request gets a successor, the others
// are replays and revoke the family, so no successor stays valid. (Server
// errors among the losers are TestRefreshConcurrentUseNeverServerError; the
// same race through the API server is test/integration's.)
func TestRefreshRaceTwoReplicas(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	// RefreshGrace 0 means "default" (10s) in Options, so the smallest
	// positive value stands for "no grace".
	servers := []string{
		startServer(t, tokenserver.Options{RefreshGrace: time.Nanosecond}),
		startServer(t, tokenserver.Options{RefreshGrace: time.Nanosecond}),
	}
	const n, rounds = 10, 4
	for round := 1; round <= rounds; round++ {
		rt := rfOK(t, rfPassword(t, servers[0], id, secret, "alice", pw, ""), "password grant")
		c := rfCount(t, rfRace(servers, id, secret, rt, n))
		if len(c.successors) != 1 {
			t.Fatalf("round %d: %d requests got a successor, want exactly 1", round, len(c.successors))
		}
		// The losers were replays of a superseded token: the family is
		// revoked, the winner's successor included.
		rfFamilyGone(t, f.NS, rt, fmt.Sprintf("round %d: family revoked", round))
		for _, s := range servers {
			rfErr(t, rfRefresh(t, s, id, secret, c.successors[0]), 400, "invalid_grant", fmt.Sprintf("round %d: successor after the replays", round))
		}
	}
}

// With a grace window, concurrent presentations of one token are honest
// retries: several may be answered, but afterwards exactly one of all the
// successors handed out is valid, and it carries the family on.
func TestRefreshRaceTwoReplicasWithGrace(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	servers := []string{
		startServer(t, tokenserver.Options{RefreshGrace: 20 * time.Second}),
		startServer(t, tokenserver.Options{RefreshGrace: 20 * time.Second}),
	}
	const n, rounds = 10, 3
	rt := rfOK(t, rfPassword(t, servers[0], id, secret, "alice", pw, ""), "password grant")
	for round := 1; round <= rounds; round++ {
		c := rfCount(t, rfRace(servers, id, secret, rt, n))
		if len(c.successors) == 0 {
			t.Fatalf("round %d: no request got a successor", round)
		}
		var active []string
		for _, s := range c.successors {
			if rfIntrospect(t, servers[round%2], id, secret, s)["active"] == true {
				active = append(active, s)
			}
		}
		if len(active) != 1 {
			t.Fatalf("round %d: %d of %d successors are valid, want exactly 1", round, len(active), len(c.successors))
		}
		rt = active[0]
	}
	rfOK(t, rfRefresh(t, servers[1], id, secret, rt), "the surviving successor")
}

// Concurrent uses of one refresh token (a client retrying in parallel, or a
// thief racing the owner) are answered with a token or invalid_grant, never
// with a server error.
func TestRefreshConcurrentUseNeverServerError(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	for _, grace := range []time.Duration{time.Nanosecond, 20 * time.Second} {
		servers := []string{
			startServer(t, tokenserver.Options{RefreshGrace: grace}),
			startServer(t, tokenserver.Options{RefreshGrace: grace}),
		}
		for round := 1; round <= 20; round++ {
			rt := rfOK(t, rfPassword(t, servers[0], id, secret, "alice", pw, ""), "password grant")
			if c := rfCount(t, rfRace(servers, id, secret, rt, 10)); len(c.serverErrors) > 0 {
				t.Fatalf("grace %v, round %d: %d server errors: %v", grace, round, len(c.serverErrors), c.serverErrors)
			}
		}
	}
}

// The holder of the current token uses it the moment after the family was
// revoked (by a replay, or RFC 7009 revocation): the answer is invalid_grant.
func TestRefreshRightAfterRevocation(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 2 * time.Second})
	for i := 0; i < 20; i++ {
		r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := rfOK(t, rfRefresh(t, base, id, secret, r1), "R1")
		fc.Step(3 * time.Second)
		rfErr(t, rfRefresh(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		rfErr(t, rfRefresh(t, base, id, secret, r2), 400, "invalid_grant", fmt.Sprintf("attempt %d: R2 right after the replay", i))

		r1 = rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 = rfOK(t, rfRefresh(t, base, id, secret, r1), "R1")
		if r := rfPost(t, base, "/oauth/revoke", form("token", r2, "client_id", id, "client_secret", secret)); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		rfErr(t, rfRefresh(t, base, id, secret, r2), 400, "invalid_grant", fmt.Sprintf("attempt %d: R2 right after its revocation", i))
	}
}

// ---- throttling ----

// Failed sign-ins are throttled per user; while blocked, the right password
// gets the same answer as a wrong one (and an unknown user the same as a real
// one), and the block ends by itself once the failures age out.
func TestSessionThrottlePerUser(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
	})

	var wrong response
	for i := 0; i < 3; i++ {
		wrong = rfPassword(t, base, id, secret, "alice", "wrong-"+fmt.Sprint(i), "")
		rfErr(t, wrong, 400, "invalid_grant", "wrong password")
		rfErr(t, rfPassword(t, base, id, secret, "ghost", "wrong", ""), 400, "invalid_grant", "unknown user")
	}
	right := rfPassword(t, base, id, secret, "alice", pw, "")
	rfErr(t, right, 400, "invalid_grant", "right password after 3 failures")
	wrongBlocked := rfPassword(t, base, id, secret, "alice", "wrong-again", "")
	if right.raw != wrongBlocked.raw || right.status != wrongBlocked.status {
		t.Fatalf("while blocked, the right and a wrong password are told apart:\n right %d %s\n wrong %d %s", right.status, right.raw, wrongBlocked.status, wrongBlocked.raw)
	}
	ghost := rfPassword(t, base, id, secret, "ghost", "whatever", "")
	if ghost.raw != right.raw || ghost.status != right.status {
		t.Fatalf("a blocked unknown user and a blocked real user are told apart:\n %s\n %s", ghost.raw, right.raw)
	}
	// Other users are not affected.
	_, bobPW := f.User("bob", v1alpha1.OAuthUserSpec{})
	if r := rfPassword(t, base, id, secret, "bob", bobPW, ""); r.status != 200 {
		t.Fatalf("another user while alice is blocked: %d %s", r.status, r.raw)
	}

	// Attempts while blocked do not extend the block.
	fc.Step(30 * time.Second)
	for i := 0; i < 5; i++ {
		rfErr(t, rfPassword(t, base, id, secret, "alice", pw, ""), 400, "invalid_grant", "right password 30s into the block")
	}
	fc.Step(31 * time.Second)
	rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "right password once the failures aged out")

	// A success clears the user's failures.
	for i := 0; i < 2; i++ {
		rfErr(t, rfPassword(t, base, id, secret, "alice", "nope", ""), 400, "invalid_grant", "wrong password")
	}
	rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "right password after 2 failures")
	for i := 0; i < 2; i++ {
		rfErr(t, rfPassword(t, base, id, secret, "alice", "nope", ""), 400, "invalid_grant", "wrong password")
	}
	rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "failures before the last success do not count")
}

// Failed sign-ins are also throttled per source address, across usernames.
func TestSessionThrottlePerSource(t *testing.T) {
	guesser := rfSecondSource(t)
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
	})
	pwForm := func(user, p string) string {
		return form("grant_type", "password", "username", user, "password", p, "client_id", id, "client_secret", secret)
	}
	send := func(hc *http.Client, user, p string) response {
		t.Helper()
		r, err := rfSend(hc, base, "/oauth/token", pwForm(user, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, u := range []string{"alice", "u1", "u2"} {
		rfErr(t, send(guesser, u, "guess"), 400, "invalid_grant", "guess from 127.0.0.2")
	}
	rfErr(t, send(guesser, "alice", pw), 400, "invalid_grant", "right password from the throttled address")
	rfOK(t, send(http.DefaultClient, "alice", pw), "right password from another address")
	// Alice's success from elsewhere does not reset the guessing address's
	// budget.
	rfErr(t, send(guesser, "alice", pw), 400, "invalid_grant", "right password from the throttled address after a success elsewhere")
	fc.Step(61 * time.Second)
	rfOK(t, send(guesser, "alice", pw), "right password from 127.0.0.2 once its failures aged out")
}

// ---- users and clients going away ----

// rfSetDisabled disables or enables u in the directory, as the controller
// reflects it in the status (without deleting its families, which the
// controller also does: test/integration's session tests cover that).
func rfSetDisabled(t *testing.T, u *v1alpha1.OAuthUser, disabled bool) {
	t.Helper()
	if _, err := h.SetUserDisabled(u, disabled); err != nil {
		t.Fatal(err)
	}
}

// A disabled user cannot sign in, and its existing tokens stop working: the
// token server refuses them itself, whether or not the controller has deleted
// the user's families yet.
func TestSessionDisabledUser(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	u, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	r := rfPassword(t, issuer, id, secret, "alice", pw, "")
	rt := rfOK(t, r, "password grant")
	access := r.body["access_token"].(string)

	rfSetDisabled(t, u, true)
	if a := rfIntrospect(t, issuer, id, secret, access)["active"]; a != false {
		t.Fatalf("access token of a disabled user: active %v", a)
	}
	if a := rfIntrospect(t, issuer, id, secret, rt)["active"]; a != false {
		t.Fatalf("refresh token of a disabled user: active %v", a)
	}
	rfErr(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), 400, "invalid_grant", "password grant of a disabled user")
	rfErr(t, rfRefresh(t, issuer, id, secret, rt), 400, "invalid_grant", "refresh of a disabled user")
	rfSetDisabled(t, u, false)
	rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "a new sign-in after re-enabling")
}

// A deleted user's refresh tokens stop working, also when a user of the same
// name is created again. (The family's owner reference, through which
// cluster garbage collection removes it, is test/integration's.)
func TestSessionDeletedUser(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec("orders.read"))
	u, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	r1 := rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "password grant 1")
	r2 := rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "password grant 2")
	if fam, err := rfFamily(t, f.NS, r1); err != nil || fam.UserUID != u.UID {
		t.Fatalf("family of r1: %+v, %v; want the user %s", fam, err, u.UID)
	}

	h.Mem.Directory.DeleteUser(f.NS, u.Name)
	rfErr(t, rfRefresh(t, issuer, id, secret, r1), 400, "invalid_grant", "refresh of a deleted user")

	// A new user of the same name is another user: the old family stays dead.
	u2, pw2 := f.User("alice", v1alpha1.OAuthUserSpec{SecretName: "alice-v2"})
	if u2.UID == u.UID {
		t.Fatal("the re-created user has the old UID")
	}
	rfErr(t, rfRefresh(t, issuer, id, secret, r2), 400, "invalid_grant", "old refresh token after the user was re-created")
	rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw2, ""), "the new user signs in")
}

// A client deleted mid-session: its refresh tokens and credentials stop
// working, its access tokens introspect inactive, and a client re-created
// under the same name and client_id does not inherit its families.
func TestSessionClientDeleted(t *testing.T) {
	f := newFixture(t)
	spec := rfSpec("orders.read")
	spec.GrantTypes = append(spec.GrantTypes, v1alpha1.GrantClientCredentials)
	id, secret := f.Client("app", spec)
	obsID, obsSecret := f.Client("observer", rfSpec("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	r := rfPassword(t, issuer, id, secret, "alice", pw, "")
	rt := rfOK(t, r, "password grant")
	access := r.body["access_token"].(string)
	if a := rfIntrospect(t, issuer, obsID, obsSecret, access)["active"]; a != true {
		t.Fatalf("before deletion the access token introspects active=%v", a)
	}
	old, err := h.Mem.Directory.ClientByName(context.Background(), f.NS, "app")
	if err != nil {
		t.Fatal(err)
	}

	h.Mem.Directory.DeleteClient(f.NS, "app")
	rfErr(t, rfRefresh(t, issuer, id, secret, rt), 401, "invalid_client", "refresh with the deleted client's credentials")
	rfErr(t, rfPost(t, issuer, "/oauth/token", form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)), 401, "invalid_client", "client_credentials of a deleted client")
	rfErr(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), 401, "invalid_client", "password grant through a deleted client")
	if a := rfIntrospect(t, issuer, obsID, obsSecret, access)["active"]; a != false {
		t.Fatalf("access token of a deleted client introspects active=%v", a)
	}

	// Re-created under the same name (so the same generated client_id) with
	// new credentials: a new client, which cannot use the old family.
	id2, secret2, c2 := h.Client(f.NS, "app", v1alpha1.OAuthClientSpec{
		GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, SecretName: "app-v2-credentials",
	})
	if c2.UID == old.Object.UID || id2 != id {
		t.Fatalf("re-created client: uid %s (was %s), client_id %q (was %q)", c2.UID, old.Object.UID, id2, id)
	}
	rfErr(t, rfRefresh(t, issuer, id2, secret2, rt), 400, "invalid_grant", "the re-created client presenting the old client's refresh token")
	// The family is unusable: nothing answers for it any more.
	if a := rfIntrospect(t, issuer, id2, secret2, rt)["active"]; a != false {
		t.Fatalf("old family introspects active=%v for the re-created client", a)
	}
	rfOK(t, rfPassword(t, issuer, id2, secret2, "alice", pw, ""), "a new session through the re-created client")
}

// A guesser hammering one user from one address never locks the owner out
// from another address: the user's failure budget is per source.
func TestSessionThrottleNeverLocksOutTheOwner(t *testing.T) {
	guesser := rfSecondSource(t)
	f := newFixture(t)
	id, secret := f.Client("app", rfSpec())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, _ := rfFakeServer(t, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
	})
	send := func(hc *http.Client, p string) response {
		t.Helper()
		r, err := rfSend(hc, base, "/oauth/token", form("grant_type", "password", "username", "alice", "password", p, "client_id", id, "client_secret", secret))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for range 10 {
		rfErr(t, send(guesser, "guess"), 400, "invalid_grant", "guess from 127.0.0.2")
	}
	rfErr(t, send(guesser, pw), 400, "invalid_grant", "the right password from the guessing address while it is throttled")
	rfOK(t, send(http.DefaultClient, pw), "the owner from 127.0.0.1")
}

// rfSecondSource is an HTTP client whose requests come from 127.0.0.2, a
// second loopback source address; the test is skipped where it cannot bind.
func rfSecondSource(t *testing.T) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		c, derr := d.Dial("tcp", ln.Addr().String())
		ln.Close()
		if derr != nil {
			t.Skipf("cannot use 127.0.0.2 as a source address here: %v", derr)
		}
		c.Close()
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

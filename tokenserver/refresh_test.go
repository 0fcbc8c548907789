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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// ---- helpers (prefixed rf to stay clear of the package's other test files) ----

// rfSession creates f's client app, which may refresh tokens with
// servertest.SessionScope, and its user alice, for the refresh scenarios
// that test/integration runs too.
func rfSession(t testing.TB, f *fixture) (servertest.Session, *v1alpha1.OAuthUser) {
	t.Helper()
	id, secret := f.Client("app", servertest.RefreshClient(servertest.SessionScope))
	u, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	return servertest.Session{Issuer: issuer, ID: id, Secret: secret, Username: "alice", Password: pw, StartServer: startServer}, u
}

// rfFamily reads the family record of rt from the in-memory store.
func rfFamily(t testing.TB, ns, rt string) (*store.Family, error) {
	t.Helper()
	fam, _ := servertest.TokenParts(t, rt)
	return h.Mem.Families.Get(context.Background(), ns, fam)
}

// rfFamilyGone fails unless the family of rt was removed.
func rfFamilyGone(t testing.TB, ns, rt, what string) {
	t.Helper()
	if _, err := rfFamily(t, ns, rt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: the family record is still there (%v)", what, err)
	}
}

func rfScopeClaim(t *testing.T, r response) string {
	t.Helper()
	at, _ := r.Body["access_token"].(string)
	_, claims := accessClaims(t, at)
	s, _ := claims["scope"].(string)
	return s
}

// ---- rotation, replay, grace ----

// Every use of a refresh token returns a new one, which works; the store
// keeps only digests.
func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	s, _ := rfSession(t, f)
	issued := servertest.RefreshRotation(t, s)

	// One family, holding no plaintext. (Its Secret and labels are
	// test/integration's TestRefreshRotation.)
	cur := issued[len(issued)-1]
	fam, _ := servertest.TokenParts(t, cur)
	for _, tok := range issued {
		if id, _ := servertest.TokenParts(t, tok); id != fam {
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
	servertest.WantDigestsOnly(t, all, issued, "the family record")
}

// Presenting a superseded token outside the grace window revokes the whole
// family (RFC 9700 §4.14.2): the successors stop working too.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{RefreshGrace: 2 * time.Second})

	// (Using a token in the instant after the revocation, before the cache
	// saw it, is test/integration's TestRefreshRightAfterRevocation.)
	revoked := func(t *testing.T, tokens ...string) {
		t.Helper()
		rfFamilyGone(t, f.NS, tokens[0], "family of a replayed token")
		for _, tok := range tokens {
			servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, tok), 400, "invalid_grant", "a token of the revoked family")
		}
		for _, tok := range tokens {
			if a := servertest.Introspect(t, base, id, secret, tok)["active"]; a != false {
				t.Fatalf("introspection of a revoked family's token: active %v", a)
			}
		}
	}

	t.Run("predecessor replayed after the grace window", func(t *testing.T) {
		r1 := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r1), "first refresh")
		fc.Step(3 * time.Second)
		servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		revoked(t, r2)
	})

	t.Run("replay after the legitimate holder moved on", func(t *testing.T) {
		r1 := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r1), "R1")
		fc.Step(3 * time.Second)
		r3 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r2), "R2")
		fc.Step(3 * time.Second)
		servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		revoked(t, r3, r2)
	})

	t.Run("older ancestor replayed within the grace window", func(t *testing.T) {
		// The grace window covers an honest retry of the last request only:
		// R1 after R2 was itself used is no retry, whatever the time.
		r1 := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r1), "R1")
		r3 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r2), "R2")
		servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		revoked(t, r3)
	})

	t.Run("a new sign-in starts a new, working family", func(t *testing.T) {
		r1 := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
		servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r1), "fresh family")
	})
}

// Within the grace window, presenting the just-superseded token again is an
// honest retry: it is answered, and the family lives on with exactly one
// valid token.
func TestRefreshGraceWindow(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{RefreshGrace: 10 * time.Second})

	r1 := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
	r2 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r1), "first use of R1")
	fc.Step(5 * time.Second)
	retry := servertest.RefreshGrant(t, base, id, secret, r1)
	r2b := servertest.WantRefreshToken(t, retry, "retry of R1 within the grace window")
	if retry.Body["scope"] != "orders.read" {
		t.Fatalf("retry: %s", retry.Raw)
	}
	if _, err := rfFamily(t, f.NS, r1); err != nil {
		t.Fatalf("the retry revoked the family: %v", err)
	}

	// Exactly one of the successors is valid (the server documents that the
	// retry replaces the successor, so it is R2b; R2, whose answer the client
	// is assumed to have lost, no longer works).
	active := map[string]bool{}
	for _, tok := range []string{r2, r2b} {
		active[tok] = servertest.Introspect(t, base, id, secret, tok)["active"] == true
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
	r3 := servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r2b), "successor of the retry")
	fc.Step(20 * time.Second)
	servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, r3), "later use")
}

// ---- lifetimes ----

func TestRefreshIdleExpiry(t *testing.T) {
	f := newFixture(t)
	spec := servertest.RefreshClient("orders.read")
	spec.RefreshTokenIdleTTL = &metav1.Duration{Duration: time.Minute}
	id, secret := f.Client("app", spec)
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{RefreshGrace: 2 * time.Second})

	t.Run("unused for longer than the idle lifetime", func(t *testing.T) {
		rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
		fc.Step(61 * time.Second)
		servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, rt), 400, "invalid_grant", "refresh after 61s idle")
		if a := servertest.Introspect(t, base, id, secret, rt)["active"]; a != false {
			t.Fatalf("idle-expired token introspects active=%v", a)
		}
	})

	t.Run("used every 50s it outlives the idle lifetime", func(t *testing.T) {
		rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
		for i := 1; i <= 4; i++ {
			fc.Step(50 * time.Second)
			rt = servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, rt), fmt.Sprintf("use after %ds", 50*i))
		}
		// And the idle clock restarts at the last use.
		fc.Step(61 * time.Second)
		servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, rt), 400, "invalid_grant", "refresh 61s after the last use")
	})
}

func TestRefreshAbsoluteExpiry(t *testing.T) {
	f := newFixture(t)
	spec := servertest.RefreshClient("orders.read")
	spec.RefreshTokenTTL = &metav1.Duration{Duration: 5 * time.Minute}
	spec.RefreshTokenIdleTTL = &metav1.Duration{Duration: time.Minute}
	id, secret := f.Client("app", spec)
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{RefreshGrace: 2 * time.Second})

	rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "password grant")
	for i := 1; i <= 5; i++ {
		fc.Step(50 * time.Second)
		rt = servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, rt), fmt.Sprintf("use after %ds", 50*i))
	}
	fc.Step(50 * time.Second) // 300s: the absolute lifetime is over
	servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, rt), 400, "invalid_grant", "refresh after the absolute lifetime")
	// A new sign-in starts a new family.
	servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "new sign-in")
}

// ---- scope ----

// A refresh may narrow the scope; a scope outside the original grant is
// invalid_scope; and, per RFC 6749 §6, a later refresh may ask for the
// original scope again (omitted scope "is treated as equal to the scope
// originally granted by the resource owner").
func TestRefreshScopeNarrowing(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient("orders.read", "orders.write", "reports.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})

	r := servertest.PasswordGrant(t, issuer, id, secret, "alice", pw, "orders.read orders.write")
	rt := servertest.WantRefreshToken(t, r, "password grant")
	if r.Body["scope"] != "orders.read orders.write" {
		t.Fatalf("password grant scope %v", r.Body["scope"])
	}

	r = servertest.RefreshGrant(t, issuer, id, secret, rt, "scope", "orders.read")
	rt = servertest.WantRefreshToken(t, r, "narrowing refresh")
	if r.Body["scope"] != "orders.read" || rfScopeClaim(t, r) != "orders.read" {
		t.Fatalf("narrowed refresh: scope %v, access token scope %q", r.Body["scope"], rfScopeClaim(t, r))
	}

	r = servertest.RefreshGrant(t, issuer, id, secret, rt)
	rt = servertest.WantRefreshToken(t, r, "refresh without scope after narrowing")
	if r.Body["scope"] != "orders.read orders.write" || rfScopeClaim(t, r) != "orders.read orders.write" {
		t.Fatalf("omitted scope must mean the original grant (RFC 6749 §6): scope %v, access token %q", r.Body["scope"], rfScopeClaim(t, r))
	}

	r = servertest.RefreshGrant(t, issuer, id, secret, rt, "scope", "orders.write orders.read")
	rt = servertest.WantRefreshToken(t, r, "asking for the original scope explicitly")
	if sc := strings.Fields(rfScopeClaim(t, r)); len(sc) != 2 || !slices.Contains(sc, "orders.read") || !slices.Contains(sc, "orders.write") {
		t.Fatalf("access token scope %v", sc)
	}

	// Wider than the original grant: the client may have reports.read, the
	// grant does not.
	r = servertest.RefreshGrant(t, issuer, id, secret, rt, "scope", "orders.read reports.read")
	servertest.WantError(t, r, 400, "invalid_scope", "scope beyond the original grant")
	if r.Body["access_token"] != nil || r.Body["refresh_token"] != nil {
		t.Fatalf("an error carried tokens: %s", r.Raw)
	}
	// A scope the client may not have at all.
	servertest.WantError(t, servertest.RefreshGrant(t, issuer, id, secret, rt, "scope", "orders.admin"), 400, "invalid_scope", "scope outside the client's")
}

// A refresh request that is refused (here invalid_scope) issued nothing, so
// the client still holds a valid token (RFC 6749 §6: the client discards the
// old refresh token only when a new one is issued). The server must not have
// rotated it away, and presenting it later must not count as a replay.
func TestRefreshRejectedScopeKeepsToken(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient("orders.read", "orders.write", "reports.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{RefreshGrace: 2 * time.Second})

	rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, "orders.read orders.write"), "password grant")
	servertest.WantError(t, servertest.RefreshGrant(t, base, id, secret, rt, "scope", "reports.read"), 400, "invalid_scope", "scope beyond the grant")
	fc.Step(3 * time.Second)
	r := servertest.RefreshGrant(t, base, id, secret, rt)
	servertest.WantRefreshToken(t, r, "the token after a refused request")
	if _, err := rfFamily(t, f.NS, rt); err != nil {
		t.Fatalf("family gone after a refused request: %v", err)
	}
}

// A scope removed from the client stops being issued on refresh: the family's
// original grant cannot outlive what the client may request.
func TestRefreshAfterClientLosesScope(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient("orders.read", "orders.write"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, issuer, id, secret, "alice", pw, "orders.read orders.write"), "password grant")

	if _, err := h.ChangeClient(f.NS, "app", func(c *v1alpha1.OAuthClient) { c.Spec.Scopes = []string{"orders.read"} }); err != nil {
		t.Fatal(err)
	}
	r := servertest.RefreshGrant(t, issuer, id, secret, rt)
	if r.Status == http.StatusOK {
		if sc := strings.Fields(rfScopeClaim(t, r)); slices.Contains(sc, "orders.write") || strings.Contains(fmt.Sprint(r.Body["scope"]), "orders.write") {
			t.Fatalf("refresh issued scope %q that the client no longer has (response scope %v)", sc, r.Body["scope"])
		}
		return
	}
	if r.Status != 400 || (r.Body["error"] != "invalid_scope" && r.Body["error"] != "invalid_grant") {
		t.Fatalf("refresh after the client lost a scope: %d %s", r.Status, r.Raw)
	}
}

// ---- binding ----

// A refresh token works only for the client it was issued to.
func TestRefreshBoundToClient(t *testing.T) {
	f := newFixture(t)
	idA, secretA := f.Client("a", servertest.RefreshClient("orders.read"))
	idB, secretB := f.Client("b", servertest.RefreshClient("orders.read"))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	other := newFixture(t)
	idC, secretC := other.Client("c", servertest.RefreshClient("orders.read"))

	rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, issuer, idA, secretA, "alice", pw, ""), "password grant")
	servertest.WantError(t, servertest.RefreshGrant(t, issuer, idB, secretB, rt), 400, "invalid_grant", "client b presenting a's token")
	servertest.WantError(t, servertest.RefreshGrant(t, issuer, idC, secretC, rt), 400, "invalid_grant", "client of another namespace presenting a's token")
	if a := servertest.Introspect(t, issuer, idB, secretB, rt)["active"]; a != false {
		t.Fatalf("client b introspecting a's refresh token: active %v", a)
	}
	// Revocation by another client has no effect (RFC 7009 §2.1).
	if r := testhttp.Post(t, issuer+"/oauth/revoke", formType, form("token", rt, "client_id", idB, "client_secret", secretB)); r.Status != 200 {
		t.Fatalf("revoke by another client: %d %s", r.Status, r.Raw)
	}
	// Nothing another client did touched a's token.
	servertest.WantRefreshToken(t, servertest.RefreshGrant(t, issuer, idA, secretA, rt), "owner's refresh after foreign attempts")
}

// ---- two replicas racing ----

// Two replicas over the same stores receive the same refresh token at once,
// outside any grace window: exactly one request gets a successor, the others
// are replays and revoke the family, so no successor stays valid. (Server
// errors among the losers are TestRefreshConcurrentUseNeverServerError; the
// same race through the API server is test/integration's.)
func TestRefreshRaceTwoReplicas(t *testing.T) {
	f := newFixture(t)
	s, _ := rfSession(t, f)
	servertest.RefreshRaceTwoReplicas(t, s, func(t testing.TB, rt, what string) { rfFamilyGone(t, f.NS, rt, what) })
}

// With a grace window, concurrent presentations of one token are honest
// retries: several may be answered, but afterwards exactly one of all the
// successors handed out is valid, and it carries the family on.
func TestRefreshRaceTwoReplicasWithGrace(t *testing.T) {
	s, _ := rfSession(t, newFixture(t))
	servertest.RefreshRaceTwoReplicasWithGrace(t, s, nil)
}

// Concurrent uses of one refresh token (a client retrying in parallel, or a
// thief racing the owner) are answered with a token or invalid_grant, never
// with a server error.
func TestRefreshConcurrentUseNeverServerError(t *testing.T) {
	s, _ := rfSession(t, newFixture(t))
	servertest.RefreshConcurrentUseNeverServerError(t, s)
}

// The holder of the current token uses it the moment after the family was
// revoked (by a replay, or RFC 7009 revocation): the answer is invalid_grant.
func TestRefreshRightAfterRevocation(t *testing.T) {
	s, _ := rfSession(t, newFixture(t))
	servertest.RefreshRightAfterRevocation(t, s)
}

// ---- throttling ----

// Failed sign-ins are throttled per user; while blocked, the right password
// gets the same answer as a wrong one (and an unknown user the same as a real
// one), and the block ends by itself once the failures age out.
func TestSessionThrottlePerUser(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
	})

	var wrong response
	for i := 0; i < 3; i++ {
		wrong = servertest.PasswordGrant(t, base, id, secret, "alice", "wrong-"+fmt.Sprint(i), "")
		servertest.WantError(t, wrong, 400, "invalid_grant", "wrong password")
		servertest.WantError(t, servertest.PasswordGrant(t, base, id, secret, "ghost", "wrong", ""), 400, "invalid_grant", "unknown user")
	}
	right := servertest.PasswordGrant(t, base, id, secret, "alice", pw, "")
	servertest.WantError(t, right, 400, "invalid_grant", "right password after 3 failures")
	wrongBlocked := servertest.PasswordGrant(t, base, id, secret, "alice", "wrong-again", "")
	if right.Raw != wrongBlocked.Raw || right.Status != wrongBlocked.Status {
		t.Fatalf("while blocked, the right and a wrong password are told apart:\n right %d %s\n wrong %d %s", right.Status, right.Raw, wrongBlocked.Status, wrongBlocked.Raw)
	}
	ghost := servertest.PasswordGrant(t, base, id, secret, "ghost", "whatever", "")
	if ghost.Raw != right.Raw || ghost.Status != right.Status {
		t.Fatalf("a blocked unknown user and a blocked real user are told apart:\n %s\n %s", ghost.Raw, right.Raw)
	}
	// Other users are not affected.
	_, bobPW := f.User("bob", v1alpha1.OAuthUserSpec{})
	if r := servertest.PasswordGrant(t, base, id, secret, "bob", bobPW, ""); r.Status != 200 {
		t.Fatalf("another user while alice is blocked: %d %s", r.Status, r.Raw)
	}

	// Attempts while blocked do not extend the block.
	fc.Step(30 * time.Second)
	for i := 0; i < 5; i++ {
		servertest.WantError(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), 400, "invalid_grant", "right password 30s into the block")
	}
	fc.Step(31 * time.Second)
	servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "right password once the failures aged out")

	// A success clears the user's failures.
	for i := 0; i < 2; i++ {
		servertest.WantError(t, servertest.PasswordGrant(t, base, id, secret, "alice", "nope", ""), 400, "invalid_grant", "wrong password")
	}
	servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "right password after 2 failures")
	for i := 0; i < 2; i++ {
		servertest.WantError(t, servertest.PasswordGrant(t, base, id, secret, "alice", "nope", ""), 400, "invalid_grant", "wrong password")
	}
	servertest.WantRefreshToken(t, servertest.PasswordGrant(t, base, id, secret, "alice", pw, ""), "failures before the last success do not count")
}

// Failed sign-ins are also throttled per source address, across usernames.
func TestSessionThrottlePerSource(t *testing.T) {
	guesser := rfSecondSource(t)
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, fc := servertest.FakeClockServer(t, startServer, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
	})
	pwForm := func(user, p string) string {
		return form("grant_type", "password", "username", user, "password", p, "client_id", id, "client_secret", secret)
	}
	send := func(hc *http.Client, user, p string) response {
		t.Helper()
		r, err := servertest.PostTo(hc, base, "/oauth/token", pwForm(user, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, u := range []string{"alice", "u1", "u2"} {
		servertest.WantError(t, send(guesser, u, "guess"), 400, "invalid_grant", "guess from 127.0.0.2")
	}
	servertest.WantError(t, send(guesser, "alice", pw), 400, "invalid_grant", "right password from the throttled address")
	servertest.WantRefreshToken(t, send(http.DefaultClient, "alice", pw), "right password from another address")
	// Alice's success from elsewhere does not reset the guessing address's
	// budget.
	servertest.WantError(t, send(guesser, "alice", pw), 400, "invalid_grant", "right password from the throttled address after a success elsewhere")
	fc.Step(61 * time.Second)
	servertest.WantRefreshToken(t, send(guesser, "alice", pw), "right password from 127.0.0.2 once its failures aged out")
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
	s, u := rfSession(t, newFixture(t))
	servertest.SessionDisabledUser(t, s, func() { rfSetDisabled(t, u, true) })
	rfSetDisabled(t, u, false)
	servertest.WantRefreshToken(t, s.PasswordGrant(t, issuer), "a new sign-in after re-enabling")
}

// A deleted user's refresh tokens stop working, also when a user of the same
// name is created again. (The family's owner reference, through which
// cluster garbage collection removes it, is test/integration's.)
func TestSessionDeletedUser(t *testing.T) {
	f := newFixture(t)
	s, u := rfSession(t, f)
	deleteUser := func(rt string) {
		if fam, err := rfFamily(t, f.NS, rt); err != nil || fam.UserUID != u.UID {
			t.Fatalf("family of %s: %+v, %v; want the user %s", rt, fam, err, u.UID)
		}
		h.Mem.Directory.DeleteUser(f.NS, u.Name)
	}
	servertest.SessionDeletedUser(t, s, deleteUser, func() string {
		u2, pw2 := f.User("alice", v1alpha1.OAuthUserSpec{SecretName: "alice-v2"})
		if u2.UID == u.UID {
			t.Fatal("the re-created user has the old UID")
		}
		return pw2
	})
}

// A client deleted mid-session: its refresh tokens and credentials stop
// working, its access tokens introspect inactive, and a client re-created
// under the same name and client_id does not inherit its families.
func TestSessionClientDeleted(t *testing.T) {
	f := newFixture(t)
	spec := servertest.RefreshClient(servertest.SessionScope)
	spec.GrantTypes = append(spec.GrantTypes, v1alpha1.GrantClientCredentials)
	id, secret := f.Client("app", spec)
	obsID, obsSecret := f.Client("observer", servertest.RefreshClient(servertest.SessionScope))
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	s := servertest.Session{Issuer: issuer, ID: id, Secret: secret, Username: "alice", Password: pw}
	observer := servertest.Session{ID: obsID, Secret: obsSecret}
	old, err := h.Mem.Directory.ClientByName(context.Background(), f.NS, "app")
	if err != nil {
		t.Fatal(err)
	}
	deleteClient := func(string) { h.Mem.Directory.DeleteClient(f.NS, "app") }
	servertest.SessionClientDeleted(t, s, observer, deleteClient, func() (string, string) {
		id2, secret2, c2 := h.Client(f.NS, "app", v1alpha1.OAuthClientSpec{
			GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, SecretName: "app-v2-credentials",
		})
		if c2.UID == old.Object.UID || id2 != id {
			t.Fatalf("re-created client: uid %s (was %s), client_id %q (was %q)", c2.UID, old.Object.UID, id2, id)
		}
		return id2, secret2
	})
}

// A guesser hammering one user from one address never locks the owner out
// from another address: the user's failure budget is per source.
func TestSessionThrottleNeverLocksOutTheOwner(t *testing.T) {
	guesser := rfSecondSource(t)
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	base, _ := servertest.FakeClockServer(t, startServer, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
	})
	send := func(hc *http.Client, p string) response {
		t.Helper()
		r, err := servertest.PostTo(hc, base, "/oauth/token", form("grant_type", "password", "username", "alice", "password", p, "client_id", id, "client_secret", secret))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for range 10 {
		servertest.WantError(t, send(guesser, "guess"), 400, "invalid_grant", "guess from 127.0.0.2")
	}
	servertest.WantError(t, send(guesser, pw), 400, "invalid_grant", "the right password from the guessing address while it is throttled")
	servertest.WantRefreshToken(t, send(http.DefaultClient, pw), "the owner from 127.0.0.1")
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

package servertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"golang.org/x/oauth2"
)

// SessionScope is the scope of a Session's client: RefreshClient(SessionScope).
const SessionScope = "orders.read"

// Session is one test's client and user for the refresh scenarios, which
// run over the memory stores (tokenserver's tests) and through the API
// server (test/integration's tests of the same names): what differs between
// the two is how a suite starts servers and what it checks of the stored
// state, which the scenarios take as arguments.
type Session struct {
	// Issuer is the suite's first server.
	Issuer string
	// ID and Secret are a client with RefreshClient(SessionScope).
	ID, Secret string
	// Username and Password are a user's.
	Username, Password string
	// StartServer starts another server over the suite's state with the
	// fields of o a test set (the others keep the defaults); it stops with
	// the test.
	StartServer func(testing.TB, tokenserver.Options) string
}

// SignIn signs the user in at base and returns the refresh token.
func (s Session) SignIn(t testing.TB, base string) string {
	t.Helper()
	return WantRefreshToken(t, s.PasswordGrant(t, base), "password grant")
}

// PasswordGrant signs the user in at base and returns the answer.
func (s Session) PasswordGrant(t testing.TB, base string) testhttp.Response {
	t.Helper()
	return PasswordGrant(t, base, s.ID, s.Secret, s.Username, s.Password, "")
}

// Refresh uses rt at base and returns the answer.
func (s Session) Refresh(t testing.TB, base, rt string) testhttp.Response {
	t.Helper()
	return RefreshGrant(t, base, s.ID, s.Secret, rt)
}

// Active introspects tok at base as the session's client.
func (s Session) Active(t testing.TB, base, tok string) any {
	t.Helper()
	return Introspect(t, base, s.ID, s.Secret, tok)["active"]
}

// RefreshRotation: every use of a refresh token returns a new one with a new
// access token, which works. It returns the refresh tokens issued, the
// current one last, for the suite to check what its store keeps.
func RefreshRotation(t *testing.T, s Session) []string {
	t.Helper()
	r := s.PasswordGrant(t, s.Issuer)
	cur := WantRefreshToken(t, r, "password grant")
	issued := []string{cur}
	accessTokens := []string{r.Body["access_token"].(string)}
	for i := 1; i <= 3; i++ {
		r := s.Refresh(t, s.Issuer, cur)
		next := WantRefreshToken(t, r, fmt.Sprintf("refresh %d", i))
		if slices.Contains(issued, next) {
			t.Fatalf("refresh %d returned a refresh token already issued", i)
		}
		at := r.Body["access_token"].(string)
		if slices.Contains(accessTokens, at) {
			t.Fatalf("refresh %d returned an access token already issued", i)
		}
		if r.Body["token_type"] != "Bearer" || r.Body["scope"] != SessionScope {
			t.Fatalf("refresh %d: %s", i, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
			t.Fatalf("refresh %d: caching headers %v", i, r.Header)
		}
		issued, accessTokens, cur = append(issued, next), append(accessTokens, at), next
	}
	return issued
}

// RefreshRaceTwoReplicas: two replicas receive the same refresh token at
// once, outside any grace window: exactly one request gets a successor, the
// others are replays and revoke the family, so no successor stays valid.
// familyGone waits until the suite's store no longer holds rt's family.
func RefreshRaceTwoReplicas(t *testing.T, s Session, familyGone func(t testing.TB, rt, what string)) {
	t.Helper()
	// RefreshGrace 0 means "default" (10s) in Options, so the smallest
	// positive value stands for "no grace".
	servers := []string{
		s.StartServer(t, tokenserver.Options{RefreshGrace: time.Nanosecond}),
		s.StartServer(t, tokenserver.Options{RefreshGrace: time.Nanosecond}),
	}
	const n, rounds = 10, 4
	for round := 1; round <= rounds; round++ {
		rt := s.SignIn(t, servers[0])
		c := CountRace(t, RaceRefresh(servers, s.ID, s.Secret, rt, n))
		if len(c.Successors) != 1 {
			t.Fatalf("round %d: %d requests got a successor, want exactly 1", round, len(c.Successors))
		}
		// The losers were replays of a superseded token: the family is
		// revoked, the winner's successor included.
		familyGone(t, rt, fmt.Sprintf("round %d: family revoked", round))
		for _, base := range servers {
			WantError(t, s.Refresh(t, base, c.Successors[0]), 400, "invalid_grant", fmt.Sprintf("round %d: successor after the replays", round))
		}
	}
}

// RefreshRaceTwoReplicasWithGrace: with a grace window, concurrent
// presentations of one token are honest retries: several may be answered,
// but afterwards exactly one of all the successors handed out is valid, and
// it carries the family on. settle, when not nil, waits until reads of rt's
// family (introspection) see the last rotation.
func RefreshRaceTwoReplicasWithGrace(t *testing.T, s Session, settle func(t testing.TB, rt string)) {
	t.Helper()
	servers := []string{
		s.StartServer(t, tokenserver.Options{RefreshGrace: 20 * time.Second}),
		s.StartServer(t, tokenserver.Options{RefreshGrace: 20 * time.Second}),
	}
	const n, rounds = 10, 3
	rt := s.SignIn(t, servers[0])
	for round := 1; round <= rounds; round++ {
		c := CountRace(t, RaceRefresh(servers, s.ID, s.Secret, rt, n))
		if len(c.Successors) == 0 {
			t.Fatalf("round %d: no request got a successor", round)
		}
		if settle != nil {
			settle(t, rt)
		}
		var active []string
		for _, next := range c.Successors {
			if s.Active(t, servers[round%2], next) == true {
				active = append(active, next)
			}
		}
		if len(active) != 1 {
			t.Fatalf("round %d: %d of %d successors are valid, want exactly 1", round, len(active), len(c.Successors))
		}
		rt = active[0]
	}
	WantRefreshToken(t, s.Refresh(t, servers[1], rt), "the surviving successor")
}

// RefreshConcurrentUseNeverServerError: concurrent uses of one refresh
// token (a client retrying in parallel, or a thief racing the owner) are
// answered with a token or invalid_grant, never with a server error.
func RefreshConcurrentUseNeverServerError(t *testing.T, s Session) {
	t.Helper()
	for _, grace := range []time.Duration{time.Nanosecond, 20 * time.Second} {
		servers := []string{
			s.StartServer(t, tokenserver.Options{RefreshGrace: grace}),
			s.StartServer(t, tokenserver.Options{RefreshGrace: grace}),
		}
		for round := 1; round <= 20; round++ {
			rt := s.SignIn(t, servers[0])
			if c := CountRace(t, RaceRefresh(servers, s.ID, s.Secret, rt, 10)); len(c.ServerErrors) > 0 {
				t.Fatalf("grace %v, round %d: %d server errors: %v", grace, round, len(c.ServerErrors), c.ServerErrors)
			}
		}
	}
}

// RefreshRightAfterRevocation: the holder of the current token uses it the
// moment after the family was revoked (by a replay, or RFC 7009
// revocation): the answer is invalid_grant.
func RefreshRightAfterRevocation(t *testing.T, s Session) {
	t.Helper()
	base, fc := FakeClockServer(t, s.StartServer, tokenserver.Options{RefreshGrace: 2 * time.Second})
	for i := 0; i < 20; i++ {
		r1 := s.SignIn(t, base)
		r2 := WantRefreshToken(t, s.Refresh(t, base, r1), "R1")
		fc.Step(3 * time.Second)
		WantError(t, s.Refresh(t, base, r1), 400, "invalid_grant", "replayed R1")
		WantError(t, s.Refresh(t, base, r2), 400, "invalid_grant", fmt.Sprintf("attempt %d: R2 right after the replay", i))

		r1 = s.SignIn(t, base)
		r2 = WantRefreshToken(t, s.Refresh(t, base, r1), "R1")
		if r := Revoke(t, base, s.ID, s.Secret, r2); r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		WantError(t, s.Refresh(t, base, r2), 400, "invalid_grant", fmt.Sprintf("attempt %d: R2 right after its revocation", i))
	}
}

// SessionDisabledUser: a disabled user cannot sign in, and its existing
// tokens stop working. disable disables the user and waits until the
// suite's servers see it.
func SessionDisabledUser(t *testing.T, s Session, disable func()) {
	t.Helper()
	r := s.PasswordGrant(t, s.Issuer)
	rt := WantRefreshToken(t, r, "password grant")
	access := r.Body["access_token"].(string)

	disable()
	if a := s.Active(t, s.Issuer, access); a != false {
		t.Fatalf("access token of a disabled user: active %v", a)
	}
	if a := s.Active(t, s.Issuer, rt); a != false {
		t.Fatalf("refresh token of a disabled user: active %v", a)
	}
	WantError(t, s.PasswordGrant(t, s.Issuer), 400, "invalid_grant", "password grant of a disabled user")
	WantError(t, s.Refresh(t, s.Issuer, rt), 400, "invalid_grant", "refresh of a disabled user")
}

// SessionDeletedUser: a deleted user's refresh tokens stop working, also
// when a user of the same name is created again. deleteUser checks what the
// suite keeps for rt's family, deletes the user and waits until the servers
// see it gone; recreate creates a user of the same name (failing unless it
// is another user) and returns its password.
func SessionDeletedUser(t *testing.T, s Session, deleteUser func(rt string), recreate func() string) {
	t.Helper()
	r1 := WantRefreshToken(t, s.PasswordGrant(t, s.Issuer), "password grant 1")
	r2 := WantRefreshToken(t, s.PasswordGrant(t, s.Issuer), "password grant 2")
	deleteUser(r1)
	WantError(t, s.Refresh(t, s.Issuer, r1), 400, "invalid_grant", "refresh of a deleted user")

	// A new user of the same name is another user: the old family stays dead.
	s.Password = recreate()
	WantError(t, s.Refresh(t, s.Issuer, r2), 400, "invalid_grant", "old refresh token after the user was re-created")
	WantRefreshToken(t, s.PasswordGrant(t, s.Issuer), "the new user signs in")
}

// SessionClientDeleted: a client deleted mid-session: its refresh tokens and
// credentials stop working, its access tokens introspect inactive for the
// observer (another client), and a client re-created under the same name and
// client_id does not inherit its families. The session's client may also use
// client_credentials. deleteClient checks what the suite keeps for rt's
// family, deletes the client and waits until the servers see it gone;
// recreate creates it again under the same name with new credentials
// (failing unless it is another client) and returns them.
func SessionClientDeleted(t *testing.T, s, observer Session, deleteClient func(rt string), recreate func() (id, secret string)) {
	t.Helper()
	r := s.PasswordGrant(t, s.Issuer)
	rt := WantRefreshToken(t, r, "password grant")
	access := r.Body["access_token"].(string)
	if a := observer.Active(t, s.Issuer, access); a != true {
		t.Fatalf("before deletion the access token introspects active=%v", a)
	}

	deleteClient(rt)
	WantError(t, s.Refresh(t, s.Issuer, rt), 401, "invalid_client", "refresh with the deleted client's credentials")
	cc := testhttp.Form("grant_type", "client_credentials", "client_id", s.ID, "client_secret", s.Secret)
	WantError(t, testhttp.Post(t, s.Issuer+"/oauth/token", testhttp.FormType, cc), 401, "invalid_client", "client_credentials of a deleted client")
	WantError(t, s.PasswordGrant(t, s.Issuer), 401, "invalid_client", "password grant through a deleted client")
	if a := observer.Active(t, s.Issuer, access); a != false {
		t.Fatalf("access token of a deleted client introspects active=%v", a)
	}

	// Re-created under the same name (so the same generated client_id) with
	// new credentials: a new client, which cannot use the old family.
	s.ID, s.Secret = recreate()
	WantError(t, s.Refresh(t, s.Issuer, rt), 400, "invalid_grant", "the re-created client presenting the old client's refresh token")
	// The family is unusable: nothing answers for it any more.
	if a := s.Active(t, s.Issuer, rt); a != false {
		t.Fatalf("old family introspects active=%v for the re-created client", a)
	}
	WantRefreshToken(t, s.PasswordGrant(t, s.Issuer), "a new session through the re-created client")
}

// CodeSingleUseAcrossReplicas: two replicas race to redeem one
// authorization code, rounds times: exactly one exchange succeeds, the other
// is invalid_grant. cfg is a confidential client of the code flow at the
// suite's server issuer; second is another replica; username signs in with
// pw.
func CodeSingleUseAcrossReplicas(t *testing.T, cfg oauth2.Config, issuer, second, username, pw string, rounds int) {
	t.Helper()
	ctx := context.Background()
	for round := range rounds {
		verifier := oauth2.GenerateVerifier()
		code := NewBrowser(t).SignIn(issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), username, pw).Query().Get("code")
		replicas := []oauth2.Config{cfg, cfg}
		replicas[1].Endpoint.TokenURL = second + "/oauth/token"
		results := make(chan error, 2)
		for _, c := range replicas {
			go func() {
				_, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				results <- err
			}()
		}
		succeeded := 0
		for range 2 {
			if err := <-results; err == nil {
				succeeded++
			} else if ErrorCode(err) != "invalid_grant" {
				t.Errorf("round %d, loser: %v", round, err)
			}
		}
		if succeeded != 1 {
			t.Fatalf("round %d: %d exchanges of one code succeeded, want exactly 1", round, succeeded)
		}
	}
}

// ErrorCode is the OAuth error code of a failed oauth2 token request, empty
// for another error.
func ErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

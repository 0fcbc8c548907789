package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/password"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
)

// passwordGrant is RFC 6749 §4.3, the resource owner password grant. RFC 9700
// §2.4 says it must not be used; it exists for integrations that cannot do
// otherwise and is opt-in per client.
type passwordGrant struct{ s *Server }

func (g passwordGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	username, pw := req.in.username, req.in.password
	if username == "" || pw == "" {
		return nil, oauth.InvalidRequest("username and password are required")
	}
	user, err := g.s.authenticateUser(ctx, req.client.Object.Namespace, username, pw, req.source)
	if err != nil {
		return nil, err
	}
	return g.s.issue(ctx, req, user, issueOptions{authTime: req.now})
}

// authenticateUser checks a username and password of the client's namespace.
// The attempt is reserved in the throttle before any verification, so a
// burst from one source gets at most its budget of verifications. Every
// refusal is the same invalid_grant after the same work (an unknown user, a
// user without a usable password and a disabled one spend a dummy hash
// verification), so neither the answer nor its timing tells whether the user
// exists, or whether a disabled user's password was right.
func (s *Server) authenticateUser(ctx context.Context, namespace, username, pw, source string) (*store.User, error) {
	r, ok, retry := s.reserveAttempt(ctx, namespace+"/"+username, source)
	if !ok {
		s.metrics.throttled()
		return nil, oauth.NewError(http.StatusBadRequest, oauth.ErrInvalidGrant, "too many failed attempts; try again in "+strconv.Itoa(int(retry.Seconds())+1)+" s")
	}
	defer r.Cancel() // an attempt neither failed nor succeeded (a server error) does not count
	user, err := s.dir.User(ctx, namespace, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	ok, err = s.checkPassword(user, pw)
	if err != nil {
		return nil, err
	}
	if !ok || user.Object.Spec.Disabled {
		r.Failed()
		s.metrics.userAuthFailed()
		return nil, oauth.InvalidGrant("the username or password is wrong")
	}
	r.Succeeded()
	return user, nil
}

// checkPassword compares in constant time when the plaintext is known, and
// verifies the hash (through the cache of recent successes) otherwise. A
// refusal that did no hash work (no such user, a wrong generated password)
// spends a dummy verification, so every refusal costs what a hash-only
// user's does. The hash limiter full is 503 temporarily_unavailable.
func (s *Server) checkPassword(u *store.User, pw string) (bool, error) {
	ok, hashed := false, false
	var err error
	switch {
	case u != nil && u.Hash != "":
		hashed = true
		ok, err = s.passwords.Verify(string(u.Object.UID), u.Object.ResourceVersion, u.Hash, pw)
	case u != nil:
		ok = u.Plaintext != "" && credentials.Equal(pw, u.Plaintext)
	}
	if err == nil && !ok && !hashed {
		err = s.passwords.VerifyDummy(password.Bcrypt, pw)
	}
	if errors.Is(err, password.ErrBusy) {
		return false, oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "too many sign-ins are being verified; retry shortly")
	}
	if err != nil {
		return false, fmt.Errorf("verify password hash of %s/%s: %w", u.Object.Namespace, u.Object.Name, err)
	}
	return ok, nil
}

// inFlightWait bounds how long a sign-in waits for the attempts at the same
// user from the same source that are being verified (a hash time each).
const inFlightWait = 2 * time.Second

// reserveAttempt reserves a sign-in attempt. A refusal only because other
// attempts of the same user and source are still being verified waits for
// them (bounded), so an honest client's concurrent sign-ins are served one
// after the other, while a guessing burst still gets one verification at a
// time and no more than its budget.
func (s *Server) reserveAttempt(ctx context.Context, user, source string) (*throttle.Reservation, bool, time.Duration) {
	deadline := time.Now().Add(inFlightWait)
	for {
		r, ok, retry := s.throttle.Reserve(user, source)
		if ok || retry != throttle.InFlightRetry || time.Now().After(deadline) {
			return r, ok, retry
		}
		select {
		case <-ctx.Done():
			return nil, false, retry
		case <-time.After(5 * time.Millisecond):
		}
	}
}

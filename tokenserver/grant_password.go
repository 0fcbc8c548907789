package tokenserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
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

// authenticateUser checks a username and password of the client's namespace,
// throttled per user and per source address. Every failure is the same
// invalid_grant, so the answer does not tell whether the user exists.
func (s *Server) authenticateUser(ctx context.Context, namespace, username, pw, source string) (*store.User, error) {
	throttleKey := namespace + "/" + username
	if ok, retry := s.throttle.Check(throttleKey, source); !ok {
		s.metrics.throttled()
		e := oauth.NewError(http.StatusBadRequest, oauth.ErrInvalidGrant, "too many failed attempts; try again in "+strconv.Itoa(int(retry.Seconds())+1)+" s")
		return nil, e
	}
	user, err := s.dir.User(ctx, namespace, username)
	if err != nil && err != store.ErrNotFound {
		return nil, err
	}
	ok := false
	if user != nil {
		if ok, err = s.checkPassword(user, pw); err != nil {
			return nil, err
		}
	} else {
		// Spend a comparison as for a real user.
		credentials.Equal(pw, "no-such-user")
	}
	if !ok {
		s.throttle.Failed(throttleKey, source)
		s.metrics.userAuthFailed()
		return nil, oauth.InvalidGrant("the username or password is wrong")
	}
	s.throttle.Succeeded(throttleKey, source)
	if user.Object.Spec.Disabled {
		return nil, oauth.InvalidGrant("the user is disabled")
	}
	return user, nil
}

// checkPassword compares in constant time when the plaintext is known, and
// verifies the hash (through the cache of recent successes) otherwise.
func (s *Server) checkPassword(u *store.User, pw string) (bool, error) {
	if u.Hash == "" {
		return u.Plaintext != "" && credentials.Equal(pw, u.Plaintext), nil
	}
	ok, err := s.passwords.Verify(string(u.Object.UID), u.Object.ResourceVersion, u.Hash, pw)
	if err != nil {
		return false, fmt.Errorf("verify password hash of %s/%s: %w", u.Object.Namespace, u.Object.Name, err)
	}
	return ok, nil
}

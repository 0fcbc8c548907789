package tokenserver

import (
	"context"
	"net/http"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Caps on what a tenant can make the server keep (Options.MaxFamiliesPerUser,
// Options.MaxRevocationsPerClient). Both are counted from the informer cache,
// so a check costs no API call; concurrent requests may pass a cap by the
// few creations racing it. When a cap is hit the new record is refused with
// a clear error and nothing kept is dropped: evicting a family would end a
// session someone may still use.

// errTooManySessions answers a grant that would start a refresh-token family
// beyond the cap. RFC 6749 §5.2 has no code for a quota; invalid_request
// ("otherwise malformed") is the code a client treats as "do not retry as
// is", whereas invalid_grant would tell it the password or code is wrong,
// and temporarily_unavailable that waiting helps, which it may not.
func errTooManySessions() *oauth.Error {
	return oauth.InvalidRequest("too many active sessions for this user and client; revoke one (RFC 7009) or sign out elsewhere")
}

// errTooManyRevocations answers a revocation beyond the cap with 503: RFC
// 7009 §2.2.1 says the client must then assume the token still exists and
// may retry later, which is true: records go as their tokens expire.
func errTooManyRevocations() *oauth.Error {
	return oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable,
		"too many revoked tokens of this client are on record; the token is still valid: retry once earlier ones expire")
}

// familyOwner is whom a family or code of client c is issued to.
func familyOwner(c *v1alpha1.OAuthClient, user *store.User) store.Owner {
	return store.Owner{UserName: user.Object.Name, UserUID: user.Object.UID, ClientName: c.Name, ClientUID: c.UID}
}

// issuesRefresh reports whether issue mints a refresh token for a user of
// req (and so starts a family): the client may refresh and, for OpenID
// requests, offline_access was asked for (OpenID Connect Core §11).
func issuesRefresh(req *tokenRequest, o issueOptions) bool {
	openID := slices.Contains(req.scopes, oauth.ScopeOpenID)
	return !o.noRefresh && req.client.Object.HasGrant(v1alpha1.GrantRefreshToken) &&
		(!openID || slices.Contains(req.scopes, oauth.ScopeOfflineAccess))
}

// checkFamilyCap refuses a new family when user already has
// MaxFamiliesPerUser live ones with the client.
func (s *Server) checkFamilyCap(ctx context.Context, c *v1alpha1.OAuthClient, user *store.User, now time.Time) error {
	owner := familyOwner(c, user)
	// Counting records is cheap; decoding them to leave out expired ones is
	// not, and is needed only when the plain count reaches the cap.
	n, err := s.families.Count(ctx, c.Namespace, owner, nil)
	if err == nil && n >= s.opts.MaxFamiliesPerUser {
		n, err = s.families.Count(ctx, c.Namespace, owner, func(f *store.Family) bool { return !f.Expired(now) })
	}
	if err != nil {
		return err
	}
	if n >= s.opts.MaxFamiliesPerUser {
		return errTooManySessions()
	}
	return nil
}

// revokeAccessToken records an access token of client as revoked, unless the
// client has MaxRevocationsPerClient records already. A token revoked before
// is fine whatever the count.
func (s *Server) revokeAccessToken(ctx context.Context, client types.UID, jti string, expires time.Time) error {
	if revoked, err := s.revoked.IsRevoked(ctx, jti); err != nil || revoked {
		return err
	}
	n, err := s.revoked.Count(ctx, client)
	if err != nil {
		return err
	}
	if n >= s.opts.MaxRevocationsPerClient {
		return errTooManyRevocations()
	}
	return s.revoked.Revoke(ctx, jti, expires, client)
}

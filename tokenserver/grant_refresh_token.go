package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// refreshTokenGrant is RFC 6749 §6 with rotation on every use and replay
// detection (RFC 9700 §4.14.2).
type refreshTokenGrant struct{ s *Server }

func (g refreshTokenGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	tok := req.in.refreshToken
	if tok == "" {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	c := req.client.Object
	asked := req.in.scope
	askedAud := len(req.in.audience) > 0
	var user *store.User
	// Every refusal is decided before the token rotates.
	check := func(f *store.Family) error {
		u, err := g.s.dir.UserByUID(ctx, c.Namespace, f.UserUID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Object.Spec.Disabled) {
			return oauth.InvalidGrant("the user of this refresh token no longer exists or is disabled")
		}
		if err != nil {
			return err
		}
		user = u
		// A refresh may narrow the scope but never widen it (RFC 6749 §6),
		// and never beyond what the client may still have.
		granted := slices.DeleteFunc(slices.Clone(f.Scopes), func(sc string) bool { return !slices.Contains(c.Spec.Scopes, sc) })
		req.scopes = granted
		if len(asked) > 0 {
			for _, sc := range asked {
				if !slices.Contains(granted, sc) {
					return oauth.InvalidScope("scope " + oauth.QuoteShort(sc) + " was not granted to this refresh token")
				}
			}
			req.scopes = asked
		}
		if !askedAud {
			req.audience = f.Audience
			return nil
		}
		for _, a := range req.audience {
			if !slices.Contains(f.Audience, a) {
				return oauth.NewError(http.StatusBadRequest, oauth.ErrInvalidTarget, "audience "+oauth.QuoteShort(a)+" was not granted to this refresh token")
			}
		}
		return nil
	}
	f, next, err := g.s.rotateFamily(ctx, c.Namespace, tok, c.UID, check)
	if errors.Is(err, errFamilyInvalid) {
		if errors.Is(err, errFamilyReplayed) {
			g.s.log.Info("refresh token replay: family revoked", "client", c.Status.ClientID, "source", req.source)
		}
		return nil, oauth.InvalidGrant("the refresh token is invalid, expired or revoked")
	}
	if errors.Is(err, errFamilyBusy) {
		e := oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "the refresh token is being used concurrently; retry")
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	return g.s.issue(ctx, req, user, issueOptions{refreshToken: next, authTime: f.AuthTime})
}

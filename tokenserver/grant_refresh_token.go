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
		return g.narrow(ctx, req, f, asked, askedAud)
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

// narrow decides the scopes and audience of a refreshed token: a refresh may
// narrow them but never widen them (RFC 6749 §6), never beyond what the
// client may still have, and never beyond what the resources still grant,
// so a withdrawn grant disappears from the next token.
func (g refreshTokenGrant) narrow(ctx context.Context, req *tokenRequest, f *store.Family, asked []string, askedAud bool) error {
	c := req.client.Object
	scopes := slices.DeleteFunc(slices.Clone(f.Scopes), func(sc string) bool { return !slices.Contains(c.Spec.Scopes, sc) })
	for _, sc := range asked {
		if !slices.Contains(scopes, sc) {
			return oauth.InvalidScope("scope " + oauth.QuoteShort(sc) + " was not granted to this refresh token")
		}
	}
	if len(asked) > 0 {
		scopes = asked
	}
	aud := f.Audience
	if askedAud {
		for _, a := range req.audience {
			if !slices.Contains(f.Audience, a) {
				return oauth.NewError(http.StatusBadRequest, oauth.ErrInvalidTarget, "audience "+oauth.QuoteShort(a)+" was not granted to this refresh token")
			}
		}
		aud = req.audience
	}
	aud, kept, err := g.s.narrowTarget(ctx, c, aud, scopes)
	if err != nil {
		return err
	}
	if len(asked) > 0 && len(kept) < len(asked) {
		return oauth.InvalidScope("a requested scope is no longer granted for the token's audience")
	}
	req.audience, req.scopes = aud, kept
	return nil
}

package tokenserver

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// refreshTokenGrant is RFC 6749 §6 with rotation on every use and replay
// detection (RFC 9700 §4.14.2).
type refreshTokenGrant struct{ s *Server }

func (g refreshTokenGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	tok := req.params["refresh_token"]
	if tok == "" {
		return nil, invalidRequest("refresh_token is required")
	}
	c := req.client.obj
	f, next, err := g.s.families.rotate(ctx, c.Namespace, tok, c.UID)
	if errors.Is(err, errFamilyInvalid) {
		if errors.Is(err, errFamilyReplayed) {
			g.s.log.Info("refresh token replay: family revoked", "client", c.Status.ClientID, "source", req.source)
		}
		return nil, invalidGrant("the refresh token is invalid, expired or revoked")
	}
	if err != nil {
		return nil, err
	}
	user, err := g.s.dir.UserByUID(ctx, c.Namespace, f.UserUID)
	if errors.Is(err, errNotFound) || (err == nil && user.obj.Spec.Disabled) {
		return nil, invalidGrant("the user of this refresh token no longer exists or is disabled")
	}
	if err != nil {
		return nil, err
	}
	// A refresh may narrow the scope but never widen it (RFC 6749 §6).
	req.scopes = f.Scopes
	if asked := strings.Fields(req.params["scope"]); len(asked) > 0 {
		for _, sc := range asked {
			if !slices.Contains(f.Scopes, sc) {
				return nil, invalidScope("scope " + quoteShort(sc) + " was not granted to this refresh token")
			}
		}
		req.scopes = asked
	}
	if req.params["audience"] == "" && req.params["resource"] == "" {
		req.audience = f.Audience
	}
	return g.s.issue(ctx, req, user, issueOptions{refreshToken: next, authTime: f.AuthTime})
}

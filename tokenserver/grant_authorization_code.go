package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/tokens"
)

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, §4.6).
type authorizationCodeGrant struct{ s *Server }

func (g authorizationCodeGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	code := req.in.code
	if code == "" {
		return nil, oauth.InvalidRequest("code is required")
	}
	c := req.client.Object
	familyID, err := g.s.newFamilyID(req.now)
	if err != nil {
		return nil, err
	}
	jti := tokens.NewJTI()
	accessExpires := req.now.Add(durationOr(c.Spec.AccessTokenTTL, time.Hour))
	var user *store.User
	// Every refusal is decided before the code is marked used.
	check := func(rec *store.AuthCode) (err error) {
		if user, err = g.checkCode(ctx, req, rec); err != nil || !issuesRefresh(req, issueOptions{}) {
			return err
		}
		// A family over the cap is refused before the code is spent.
		return g.s.checkFamilyCap(ctx, c, user, req.now)
	}
	mark := func(rec *store.AuthCode) {
		rec.FamilyID, rec.AccessJTI, rec.AccessExpiresAt = familyID, jti, accessExpires
	}
	rec, err := g.s.redeemCode(ctx, c.Namespace, code, req.now, check, mark)
	if errors.Is(err, errCodeReused) && rec.ClientUID == c.UID {
		// RFC 6749 §4.1.2: a code used twice revokes what it issued; one
		// of the two users is an attacker, and we cannot tell which.
		g.s.log.Info("authorization code reuse: tokens revoked", "client", c.Status.ClientID, "source", req.source)
		if err := g.s.revokeIssued(ctx, c.Namespace, rec); err != nil {
			return nil, err
		}
	}
	if errors.Is(err, errCodeInvalid) {
		return nil, oauth.InvalidGrant("the authorization code is invalid, expired or used")
	}
	if errors.Is(err, errFamilyBusy) {
		return nil, oauth.InvalidGrant("the authorization code is being redeemed concurrently")
	}
	if err != nil {
		return nil, err
	}
	return g.s.issue(ctx, req, user, issueOptions{authTime: rec.AuthTime, nonce: rec.Nonce, familyID: familyID, jti: jti})
}

// checkCode decides whether the request may redeem the code record: the
// same client, the redirect_uri and PKCE verifier of the authorization
// request (RFC 6749 §4.1.3, RFC 7636 §4.6), a user that still exists and is
// enabled; and narrows the scopes to what the client and the resources of
// the token's audience still grant.
func (g authorizationCodeGrant) checkCode(ctx context.Context, req *tokenRequest, rec *store.AuthCode) (*store.User, error) {
	c := req.client.Object
	if rec.ClientUID != c.UID {
		return nil, errCodeInvalid
	}
	if in := req.in; (rec.RedirectURIGiven || in.redirectURIGiven) && in.redirectURI != rec.RedirectURI {
		return nil, oauth.InvalidGrant("redirect_uri does not match the authorization request")
	}
	if !oauth.VerifyPKCE(rec.ChallengeMethod, rec.Challenge, req.in.codeVerifier) {
		return nil, oauth.InvalidGrant("code_verifier does not match the code_challenge")
	}
	u, err := g.s.dir.UserByUID(ctx, c.Namespace, rec.UserUID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Object.Spec.Disabled) {
		return nil, oauth.InvalidGrant("the user of this code no longer exists or is disabled")
	}
	if err != nil {
		return nil, err
	}
	scopes := slices.DeleteFunc(slices.Clone(rec.Scopes), func(sc string) bool { return !slices.Contains(c.Spec.Scopes, sc) })
	auds, err := codeAudience(rec, req)
	if err != nil {
		return nil, err
	}
	req.audience, req.scopes, err = g.s.narrowTarget(ctx, c, auds, scopes)
	return u, err
}

// codeAudience is the audience of a code's tokens: what the user consented
// to, or the part of it the request names (RFC 8707); never another.
// Codes of earlier releases recorded none and keep the request's.
func codeAudience(rec *store.AuthCode, req *tokenRequest) ([]string, error) {
	if len(rec.Audience) == 0 {
		return req.audience, nil
	}
	if len(req.in.audience) == 0 {
		return rec.Audience, nil
	}
	for _, a := range req.in.audience {
		if !slices.Contains(rec.Audience, a) {
			return nil, oauth.NewError(http.StatusBadRequest, oauth.ErrInvalidTarget, "audience "+oauth.QuoteShort(a)+" was not part of the authorization")
		}
	}
	return req.in.audience, nil
}

// revokeIssued revokes the refresh family and access token a code issued.
func (s *Server) revokeIssued(ctx context.Context, namespace string, rec *store.AuthCode) error {
	if rec.FamilyID != "" {
		if err := s.families.Delete(ctx, namespace, rec.FamilyID); err != nil {
			return err
		}
	}
	if rec.AccessJTI == "" {
		return nil
	}
	err := s.revokeAccessToken(ctx, rec.ClientUID, rec.AccessJTI, rec.AccessExpiresAt)
	if oe := (*oauth.Error)(nil); errors.As(err, &oe) {
		// The revocation cap: the reuse is still refused (invalid_grant)
		// and the family is gone; the access token lives until it expires.
		s.log.Info("authorization code reuse: access token not revoked, revocation cap reached", "clientUID", rec.ClientUID)
		return nil
	}
	return err
}

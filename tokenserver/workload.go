package tokenserver

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// sourceInProcess is the source address recorded for workload tokens.
const sourceInProcess = "in-process"

// IssueTokens issues the tokens of a workload token Secret through the same
// grant code as POST /oauth/token (contract.TokenIssuer): the refresh_token
// grant with a refresh token, the user's tokens as the password grant issues
// them (the operator vouches for the user instead of a password), or
// client_credentials.
func (s *Server) IssueTokens(ctx context.Context, r contract.TokenRequest) (*contract.Tokens, error) {
	if r.Client == nil || r.Client.Status.ClientID == "" || !r.Client.DeletionTimestamp.IsZero() {
		return nil, &contract.TokenRefusedError{Reason: contract.RefusedClient, Code: oauth.ErrInvalidClient, Description: "the client is not ready"}
	}
	// The operator vouches for the client: no secret is checked.
	c := &store.Client{Object: r.Client}
	in := grantParams{scope: r.Scopes, audience: r.Audiences}
	var grantType v1alpha1.GrantType
	var g grant
	switch {
	case r.RefreshToken != "":
		grantType, g = v1alpha1.GrantRefreshToken, s.grants[v1alpha1.GrantRefreshToken]
		in = grantParams{refreshToken: r.RefreshToken}
	case r.User != "":
		grantType, g = v1alpha1.GrantPassword, vouchedUserGrant{s: s, username: r.User}
	default:
		grantType, g = v1alpha1.GrantClientCredentials, s.grants[v1alpha1.GrantClientCredentials]
	}
	start := s.opts.Clock.Now()
	in.grantType = string(grantType)
	res, err := s.runGrant(ctx, c, g, in, sourceInProcess)
	s.metrics.observeToken(string(grantType), err, s.opts.Clock.Since(start))
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return nil, &contract.TokenRefusedError{Reason: refusalOf(oe.Code), Code: oe.Code, Description: oe.Description}
	}
	if err != nil {
		return nil, err
	}
	return &contract.Tokens{
		AccessToken: res.accessToken, TokenType: "Bearer", Scope: strings.Join(res.scopes, " "),
		RefreshToken: res.refreshToken, IssuedAt: res.issuedAt, ExpiresAt: res.issuedAt.Add(res.expiresIn).Truncate(time.Second),
	}, nil
}

// RevokeRefreshToken ends the family of a refresh token the operator no longer
// keeps (contract.TokenIssuer).
func (s *Server) RevokeRefreshToken(ctx context.Context, c *v1alpha1.OAuthClient, token string) error {
	return s.revokeFamily(ctx, c.Namespace, token, c.UID)
}

// vouchedUserGrant is the password grant after the password check: the
// operator itself asks, for a user of the client's namespace.
type vouchedUserGrant struct {
	s        *Server
	username string
}

func (g vouchedUserGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	user, err := g.s.dir.User(ctx, req.client.Object.Namespace, g.username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.InvalidGrant("user " + oauth.QuoteShort(g.username) + " does not exist in this namespace or is not ready")
	}
	if err != nil {
		return nil, err
	}
	if user.Object.Spec.Disabled {
		return nil, oauth.InvalidGrant("user " + oauth.QuoteShort(g.username) + " is disabled")
	}
	return g.s.issue(ctx, req, user, issueOptions{authTime: req.now})
}

var _ contract.TokenIssuer = (*Server)(nil)

// refusalOf maps an OAuth error code to the refusal the in-process caller
// branches on.
func refusalOf(code string) contract.Refusal {
	switch code {
	case oauth.ErrInvalidGrant:
		return contract.RefusedGrant
	case oauth.ErrInvalidClient, oauth.ErrUnauthorizedClient:
		return contract.RefusedClient
	case oauth.ErrInvalidScope, oauth.ErrInvalidTarget:
		return contract.RefusedScope
	default:
		return contract.RefusedOther
	}
}

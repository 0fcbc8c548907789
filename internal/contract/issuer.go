package contract

import (
	"context"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// TokenRequest asks the token server, in process, for the tokens of one
// workload token Secret. With RefreshToken set it is the refresh_token grant;
// with User set and no refresh token, the user's first tokens, issued as the
// password grant issues them once the password is checked; otherwise
// client_credentials.
type TokenRequest struct {
	// Client is the client as the caller sees it (its status may be newer
	// than any cache).
	Client            *v1alpha1.OAuthClient
	User              string
	Scopes, Audiences []string
	RefreshToken      string
}

// Tokens are what the token server issued.
type Tokens struct {
	AccessToken, TokenType, Scope, RefreshToken string
	IssuedAt, ExpiresAt                         time.Time
}

// Refusal says why the token server refused a request that will not succeed
// as it is. It is a closed set, so a caller branches on a value, never on an
// OAuth error string.
type Refusal int

const (
	// RefusedGrant: the refresh token or user is invalid, expired, revoked
	// or disabled (invalid_grant). Starting over without the refresh token
	// may work.
	RefusedGrant Refusal = iota + 1
	// RefusedClient: the client may not obtain tokens (not ready, or
	// unauthorized_client for this grant).
	RefusedClient
	// RefusedScope: a scope or audience outside what the client may get.
	RefusedScope
	// RefusedOther: any other OAuth error answer.
	RefusedOther
)

// TokenRefusedError is an answer of the token server that the request will
// not succeed as it is. Description is safe to show in Events and status.
type TokenRefusedError struct {
	Reason Refusal
	// Code is the OAuth error code the token endpoint would answer.
	Code        string
	Description string
}

func (e *TokenRefusedError) Error() string { return e.Code + ": " + e.Description }

// TokenIssuer issues tokens through the same grant code as the token
// endpoint, so a token in a workload Secret is exactly what a client would
// get.
type TokenIssuer interface {
	IssueTokens(ctx context.Context, req TokenRequest) (*Tokens, error)
	// RevokeRefreshToken ends the family of a refresh token that is
	// abandoned.
	RevokeRefreshToken(ctx context.Context, c *v1alpha1.OAuthClient, token string) error
}

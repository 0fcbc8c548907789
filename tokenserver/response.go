package tokenserver

import (
	"strings"
	"time"
)

// issued is what a grant produced; response turns it into the RFC 6749 §5.1
// body.
type issued struct {
	accessToken  string
	expiresIn    time.Duration
	scopes       []string
	refreshToken string
	idToken      string
	issuedAt     time.Time
	// user is set when the client opted into a user object in responses.
	user *userObject
	// issuedTokenType is RFC 8693's issued_token_type.
	issuedTokenType string
}

// userObject is the opt-in "user" member of a token response, for clients
// written against APIs that return one.
type userObject struct {
	Username    string   `json:"username"`
	UID         string   `json:"uid"`
	Email       string   `json:"email,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

// tokenResponse is the JSON body of a successful token response. issued_at
// (Unix milliseconds) is not in RFC 6749; clients written against APIs that
// send it read it.
type tokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    int64       `json:"expires_in"`
	Scope        string      `json:"scope,omitempty"`
	RefreshToken string      `json:"refresh_token,omitempty"`
	IDToken      string      `json:"id_token,omitempty"`
	IssuedAt     int64       `json:"issued_at"`
	User         *userObject `json:"user,omitempty"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

func (i *issued) response() tokenResponse {
	return tokenResponse{
		AccessToken:  i.accessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int64(i.expiresIn / time.Second),
		Scope:        strings.Join(i.scopes, " "),
		RefreshToken: i.refreshToken,
		IDToken:      i.idToken,
		IssuedAt:     i.issuedAt.UnixMilli(),
		User:         i.user,

		IssuedTokenType: i.issuedTokenType,
	}
}

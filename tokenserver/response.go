package tokenserver

import (
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
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
	// user is the user the tokens were issued for (nil for a client's own
	// tokens); the answer's profile decides whether and how it is shown.
	// It may be the cache's object: read only.
	user *v1alpha1.OAuthUser
	// issuedTokenType is RFC 8693's issued_token_type.
	issuedTokenType string
}

// userObject is the "standard" user member of a token response.
type userObject struct {
	Username    string   `json:"username"`
	UID         string   `json:"uid"`
	Email       string   `json:"email,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

// usergridUser is the "usergrid" user member, as Apache Usergrid SDKs read
// it. Every member comes from the OAuthUser: uuid is its UID, activated is
// not spec.disabled (a disabled user gets no tokens, so it is true in any
// answer), name its displayName, created its creation time in Unix
// milliseconds. Usergrid's "modified" is left out: the object records no
// time of its last change.
type usergridUser struct {
	UUID      string `json:"uuid"`
	Type      string `json:"type"`
	Username  string `json:"username"`
	Email     string `json:"email,omitempty"`
	Activated bool   `json:"activated"`
	Name      string `json:"name,omitempty"`
	Created   int64  `json:"created"`
}

// tokenResponse is the JSON body of a successful token response. issued_at
// (Unix milliseconds) is not in RFC 6749; clients written against APIs that
// send it read it, and spec.compatibility.issuedAt: omit leaves it out.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	IssuedAt     *int64 `json:"issued_at,omitempty"`
	User         any    `json:"user,omitempty"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

func (i *issued) response(pr profile) tokenResponse {
	res := tokenResponse{
		AccessToken:  i.accessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int64(i.expiresIn / time.Second),
		Scope:        strings.Join(i.scopes, " "),
		RefreshToken: i.refreshToken,
		IDToken:      i.idToken,

		IssuedTokenType: i.issuedTokenType,
	}
	if pr.issuedAt != v1alpha1.IssuedAtOmit {
		ms := i.issuedAt.UnixMilli()
		res.IssuedAt = &ms
	}
	if u := i.user; u != nil {
		switch pr.user {
		case v1alpha1.UserObjectStandard:
			res.User = &userObject{Username: u.Status.Username, UID: string(u.UID), Email: u.Spec.Email, DisplayName: u.Spec.DisplayName, Groups: u.Spec.Groups}
		case v1alpha1.UserObjectUsergrid:
			res.User = &usergridUser{UUID: string(u.UID), Type: "user", Username: u.Status.Username, Email: u.Spec.Email,
				Activated: !u.Spec.Disabled, Name: u.Spec.DisplayName, Created: u.CreationTimestamp.UnixMilli()}
		}
	}
	return res
}

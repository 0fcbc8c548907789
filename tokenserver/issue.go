package tokenserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/tokens"
)

// issueOptions carry what a grant knows beyond the request.
type issueOptions struct {
	// refreshToken is a refresh token the grant already obtained (the
	// refresh grant rotates one); empty means issue() decides.
	refreshToken string
	authTime     time.Time
	nonce        string
	// familyID and jti, when set, name the refresh family and the access
	// token before they exist: the authorization_code grant records them
	// with the code, so a second use of the code can revoke them.
	familyID, jti string
	// noRefresh: the implicit flow never issues a refresh token (RFC 6749
	// §4.2.2).
	noRefresh bool
	// subject, when set, is the sub of a token issued without a user: the
	// subject of a token exchange (RFC 8693).
	subject string
	// extra claims of an exchanged token (act, preferred_username).
	extra map[string]any
	// issuedTokenType is set on a token exchange's answer (RFC 8693 §2.2.1).
	issuedTokenType string
}

// ClientSubject is the sub of a client's own tokens: "client:" and the
// client_id. User subjects are the OAuthUser's UID (an RFC 4122 UUID, which
// never contains a colon), so the two spaces are disjoint whatever client_id
// a client chooses.
func ClientSubject(clientID string) string { return clientSubjectPrefix + clientID }

const clientSubjectPrefix = "client:"

// issue mints the tokens of a successful grant: always an access token; an
// id_token when a user asked for openid; a refresh token when the client may
// refresh and, for OpenID requests, offline_access was asked for (OpenID
// Connect Core §11).
func (s *Server) issue(ctx context.Context, req *tokenRequest, user *store.User, o issueOptions) (*issued, error) {
	set := s.keys.Current()
	if set == nil {
		return nil, fmt.Errorf("no signing keys loaded yet")
	}
	c := req.client.Object
	ttl := durationOr(c.Spec.AccessTokenTTL, time.Hour)
	subject := ClientSubject(c.Status.ClientID)
	if o.subject != "" {
		subject = o.subject
	}
	extra := map[string]any{}
	for k, v := range o.extra {
		extra[k] = v
	}
	if user != nil {
		subject = string(user.Object.UID)
		extra["preferred_username"] = user.Object.Status.Username
		if !o.authTime.IsZero() {
			extra["auth_time"] = o.authTime.Unix()
		}
	}
	access, err := tokens.MintAccessToken(set, s.opts.AccessTokenAlg, tokens.AccessClaims{
		Issuer: s.opts.Issuer, Subject: subject, Audience: req.audience, ClientID: c.Status.ClientID,
		Scope: strings.Join(req.scopes, " "), Namespace: c.Namespace, JTI: o.jti, IssuedAt: req.now, TTL: ttl, Extra: extra,
	})
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	res := &issued{accessToken: access, expiresIn: ttl, scopes: req.scopes, issuedAt: req.now, refreshToken: o.refreshToken, issuedTokenType: o.issuedTokenType}
	if user == nil {
		return res, nil
	}
	openID := slices.Contains(req.scopes, oauth.ScopeOpenID)
	if openID {
		if res.idToken, err = s.mintIDToken(set, req, user, access, o); err != nil {
			return nil, err
		}
	}
	if res.refreshToken == "" && issuesRefresh(req, o) {
		if res.refreshToken, err = s.createFamily(ctx, req, user, o.authTime, o.familyID); err != nil {
			return nil, err
		}
	}
	res.user = user.Object
	return res, nil
}

// mintIDToken builds an OpenID Connect id_token with the user's claims that the
// granted scopes allow (OpenID Connect Core §5.4).
func (s *Server) mintIDToken(set *keys.Set, req *tokenRequest, user *store.User, access string, o issueOptions) (string, error) {
	c := req.client.Object
	tok, err := tokens.MintIDToken(set, s.opts.IDTokenAlg, tokens.IDClaims{
		Issuer: s.opts.Issuer, Subject: string(user.Object.UID), Audience: c.Status.ClientID, Namespace: user.Object.Namespace,
		IssuedAt: req.now, TTL: durationOr(c.Spec.IDTokenTTL, time.Hour),
		AuthTime: o.authTime, Nonce: o.nonce, AccessToken: access,
		Claims: userClaims(user.Object, req.scopes),
	})
	if err != nil {
		return "", fmt.Errorf("mint id_token: %w", err)
	}
	return tok, nil
}

// userClaims are the claims of the user that scopes release, for id_tokens
// and userinfo alike.
func userClaims(u *v1alpha1.OAuthUser, scopes []string) map[string]any {
	claims := map[string]any{}
	if slices.Contains(scopes, oauth.ScopeProfile) {
		claims["preferred_username"] = u.Status.Username
		if u.Spec.DisplayName != "" {
			claims["name"] = u.Spec.DisplayName
		}
		if len(u.Spec.Groups) > 0 {
			claims["groups"] = u.Spec.Groups
		}
		for k, v := range u.Spec.Claims {
			if !tokens.ReservedUserClaim(k) {
				claims[k] = v
			}
		}
	}
	if slices.Contains(scopes, oauth.ScopeEmail) && u.Spec.Email != "" {
		claims["email"] = u.Spec.Email
		claims["email_verified"] = u.Spec.EmailVerified
	}
	return claims
}

// durationOr is d, or def when the field is unset (objects created before a
// default existed).
func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

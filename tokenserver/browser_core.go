package tokenserver

import (
	"context"
	"errors"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/tokens"
	"github.com/tokenwarden/tokenwarden/tokenserver/browser"
)

// The token server is the browser flow's core: the browser package asks it
// for password checks, codes, implicit tokens and the session key, so a
// sign-in in a browser obeys the same rules as the token endpoint.
var _ browser.Core = (*Server)(nil)

// AuthenticateUser checks a user's password (browser.Core).
func (s *Server) AuthenticateUser(ctx context.Context, namespace, username, password, source string) (*store.User, error) {
	return s.authenticateUser(ctx, namespace, username, password, source)
}

// IssueCode stores an authorization code for user (browser.Core).
func (s *Server) IssueCode(ctx context.Context, c *store.Client, user *store.User, rec *store.AuthCode) (string, error) {
	return s.createCode(ctx, c.Object.Namespace, c.Object.Name, user, rec)
}

// IssueImplicit mints the implicit flow's tokens (browser.Core): never a
// refresh token (RFC 6749 §4.2.2); an id_token returned with an access token
// carries at_hash.
func (s *Server) IssueImplicit(ctx context.Context, c *store.Client, user *store.User, r browser.ImplicitRequest) (*browser.Implicit, error) {
	aud, scopes, err := s.newTarget(ctx, c.Object, nil, r.Scopes, false)
	if err != nil {
		return nil, err
	}
	req := &tokenRequest{client: c, scopes: scopes, audience: aud, source: r.Source, now: s.opts.Clock.Now()}
	o := issueOptions{authTime: r.AuthTime, nonce: r.Nonce, noRefresh: true}
	if r.AccessToken {
		res, err := s.issue(ctx, req, user, o)
		if err != nil {
			return nil, err
		}
		return &browser.Implicit{AccessToken: res.accessToken, ExpiresIn: res.expiresIn, Scope: strings.Join(res.scopes, " "), IDToken: res.idToken}, nil
	}
	set := s.keys.Current()
	if set == nil {
		return nil, errors.New("no signing keys loaded yet")
	}
	tok, err := s.mintIDToken(set, req, user, "", o)
	if err != nil {
		return nil, err
	}
	return &browser.Implicit{IDToken: tok}, nil
}

// sessionKeyInfo names the HKDF derivation of the session key.
const sessionKeyInfo = "tokenwarden browser session v1"

// SessionKey is the MAC key of browser sessions and login forms
// (browser.Core): HKDF-SHA-256 of the active id_token signing key, which every
// replica holds already; the derivation is one-way, so the MAC key reveals
// nothing of the signing key.
func (s *Server) SessionKey() ([]byte, error) {
	k, err := s.sessionKeys.get(s)
	if err != nil {
		return nil, err
	}
	return k.key, nil
}

// Target is what a token for the client would carry (browser.Core): the
// audiences granted of its spec.audiences (the client itself when none) and
// the scopes those grants allow, decided as the token endpoint decides them,
// so the consent page shows what the tokens will hold.
func (s *Server) Target(ctx context.Context, c *store.Client, scopes []string) (audiences, granted []string, err error) {
	return s.newTarget(ctx, c.Object, nil, scopes, false)
}

// errBadHint is every refusal of an id_token_hint: which check failed is
// not the caller's business.
var errBadHint = errors.New("id_token_hint was not issued by this server")

// VerifyIDTokenHint verifies a logout request's id_token_hint
// (browser.Core): our issuer, our keys, the id_token type, one audience;
// an expired one is accepted (OpenID Connect RP-Initiated Logout 1.0 §2).
func (s *Server) VerifyIDTokenHint(hint string) (*browser.IDTokenHint, error) {
	set := s.keys.Current()
	if set == nil || hint == "" || len(hint) > 8192 {
		return nil, errBadHint
	}
	c, err := tokens.Verify(hint, set, tokens.VerifyOptions{Issuer: s.opts.Issuer, Type: tokens.TypeIDToken, AllowExpired: true, Now: s.opts.Clock.Now})
	if err != nil || len(c.Audience) != 1 || c.Subject == "" {
		return nil, errBadHint
	}
	ns, _ := c.Raw[tokens.ClaimNamespace].(string)
	return &browser.IDTokenHint{ClientID: c.Audience[0], Namespace: ns, Subject: typesUID(c.Subject)}, nil
}

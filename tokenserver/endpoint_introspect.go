package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/tokens"
)

// accessToken is a verified access token that is still good: signature,
// issuer, expiry, not revoked, and its client and user still exist and may
// have tokens.
type accessToken struct {
	claims *tokens.Claims
	client *store.Client
	user   *store.User
}

// checkAccessToken verifies an access token against the current keys and the
// cluster state. store.ErrNotFound means "not active".
func (s *Server) checkAccessToken(ctx context.Context, tok string) (*accessToken, error) {
	set := s.keys.Current()
	if set == nil || tok == "" || len(tok) > 8192 {
		return nil, store.ErrNotFound
	}
	claims, err := tokens.Verify(tok, set, tokens.VerifyOptions{Issuer: s.opts.Issuer, Type: tokens.TypeAccessToken, Now: s.opts.Clock.Now})
	if err != nil {
		return nil, store.ErrNotFound
	}
	c, err := s.dir.ClientByID(ctx, claims.ClientID)
	if err != nil {
		return nil, err
	}
	if revoked, err := s.revoked.IsRevoked(ctx, claims.JTI); err != nil || revoked {
		return nil, errors.Join(err, store.ErrNotFound)
	}
	at := &accessToken{claims: claims, client: c}
	// A client's own token, or an exchanged token whose subject is another
	// client or a ServiceAccount of the namespace (checked at the
	// exchange), has no user.
	if !strings.HasPrefix(claims.Subject, clientSubjectPrefix) && !strings.HasPrefix(claims.Subject, serviceAccountPrefix) {
		u, err := s.dir.UserByUID(ctx, c.Object.Namespace, typesUID(claims.Subject))
		if err != nil {
			return nil, err
		}
		if u.Object.Spec.Disabled {
			return nil, store.ErrNotFound
		}
		at.user = u
	}
	return at, nil
}

// authenticateEndpointClient authenticates the caller of introspection or
// revocation with the same rules as the token endpoint.
func (s *Server) authenticateEndpointClient(r *http.Request) (oauth.Params, *store.Client, error) {
	if r.Method != http.MethodPost {
		return nil, nil, oauth.NewError(http.StatusMethodNotAllowed, oauth.ErrInvalidRequest, "use POST")
	}
	p, perr := oauth.ParseParams(r, s.opts.MaxBodyBytes)
	if perr != nil {
		return nil, nil, perr
	}
	c, err := s.authenticateClient(r.Context(), r, p, route{})
	return p, c, err
}

// serveIntrospect is RFC 7662. Only confidential clients may introspect. A
// client sees access tokens of its own namespace or addressed to it, and
// refresh tokens of its own; anything else is reported inactive, like an
// invalid token, so introspection reveals nothing across tenants.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	p, caller, err := s.authenticateEndpointClient(r)
	if err == nil && caller.Object.Spec.Public {
		err = oauth.InvalidClient()
	}
	if err != nil {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
		}
		s.fail(w, r, err)
		return
	}
	tok := p["token"]
	if tok == "" {
		oauth.WriteError(w, oauth.InvalidRequest("token is required"))
		return
	}
	var resp map[string]any
	if strings.HasPrefix(tok, refreshTokenPrefix) {
		resp, err = s.introspectRefresh(r.Context(), caller, tok)
	} else {
		resp, err = s.introspectAccess(r.Context(), caller, tok)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errFamilyInvalid) || resp == nil && err == nil {
		resp, err = map[string]any{"active": false}, nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, resp)
}

func (s *Server) introspectAccess(ctx context.Context, caller *store.Client, tok string) (map[string]any, error) {
	at, err := s.checkAccessToken(ctx, tok)
	if err != nil {
		return nil, err
	}
	c := at.claims
	if !s.mayIntrospect(ctx, caller.Object, at.client.Object.Namespace, c.Audience) {
		return nil, store.ErrNotFound
	}
	resp := map[string]any{
		"active": true, "token_type": "Bearer", "client_id": c.ClientID, "sub": c.Subject, "iss": c.Issuer,
		"aud": []string(c.Audience), "jti": c.JTI, tokens.ClaimNamespace: at.client.Object.Namespace,
	}
	if c.Scope != "" {
		resp["scope"] = c.Scope
	}
	if act, ok := c.Raw["act"]; ok {
		// The delegation chain of an exchanged token (RFC 8693 §4.1; RFC
		// 8693 registers act for introspection responses too).
		resp["act"] = act
	}
	for k, v := range map[string]*int64{"exp": c.Expiry, "iat": c.IssuedAt, "nbf": c.NotBefore} {
		if v != nil {
			resp[k] = *v
		}
	}
	if at.user != nil {
		resp["username"] = at.user.Object.Status.Username
	}
	return resp, nil
}

func (s *Server) introspectRefresh(ctx context.Context, caller *store.Client, tok string) (map[string]any, error) {
	f, err := s.lookupFamily(ctx, caller.Object.Namespace, tok)
	if err != nil {
		return nil, err
	}
	if f.ClientUID != caller.Object.UID {
		return nil, store.ErrNotFound
	}
	u, err := s.dir.UserByUID(ctx, caller.Object.Namespace, f.UserUID)
	if err != nil || u.Object.Spec.Disabled {
		return nil, errors.Join(err, store.ErrNotFound)
	}
	exp := f.ExpiresAt
	if idle := f.LastUsedAt.Add(f.IdleTTL); f.IdleTTL > 0 && idle.Before(exp) {
		exp = idle
	}
	return map[string]any{
		"active": true, "token_type": "refresh_token", "client_id": f.ClientID, "sub": string(f.UserUID),
		"username": u.Object.Status.Username, "scope": strings.Join(f.Scopes, " "),
		"iat": f.CreatedAt.Unix(), "exp": exp.Unix(), "iss": s.opts.Issuer,
	}, nil
}

// serveRevoke is RFC 7009: a refresh token revokes its whole family; an access
// token is recorded as revoked until it expires. The answer is 200 whether or
// not the token was valid (§2.2), and a client can revoke only its own tokens.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	p, caller, err := s.authenticateEndpointClient(r)
	if err != nil {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
		}
		s.fail(w, r, err)
		return
	}
	tok := p["token"]
	if tok == "" {
		oauth.WriteError(w, oauth.InvalidRequest("token is required"))
		return
	}
	ctx := r.Context()
	if strings.HasPrefix(tok, refreshTokenPrefix) {
		err = s.revokeFamily(ctx, caller.Object.Namespace, tok, caller.Object.UID)
	} else if at, aerr := s.checkAccessToken(ctx, tok); aerr == nil && at.claims.ClientID == caller.Object.Status.ClientID {
		err = s.revokeAccessToken(ctx, caller.Object.UID, at.claims.JTI, time.Unix(*at.claims.Expiry, 0))
	} else if !errors.Is(aerr, store.ErrNotFound) {
		err = aerr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	oauth.SetNoStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// mayIntrospect: a client sees access tokens of its own namespace, tokens
// addressed to it, and tokens for an audience that a resource of its own
// namespace holds (the resource server of that namespace checking a token a
// grant let another namespace's client obtain). Anything else is reported
// inactive, so introspection reveals nothing across tenants.
func (s *Server) mayIntrospect(ctx context.Context, caller *v1alpha1.OAuthClient, tokenNamespace string, aud []string) bool {
	if tokenNamespace == caller.Namespace || slices.Contains(aud, caller.Status.ClientID) {
		return true
	}
	for _, a := range aud {
		if r, err := s.dir.ResourceByAudience(ctx, a); err == nil && r.Namespace == caller.Namespace {
			return true
		}
	}
	return false
}

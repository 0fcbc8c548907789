package tokenserver

import (
	"context"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// tokenRequest is a token request after the shared steps: parsed, the client
// authenticated, the grant allowed, the scope and audience checked.
type tokenRequest struct {
	in       grantParams
	client   *store.Client
	scopes   []string
	audience []string
	source   string
	now      time.Time
}

// grant is one grant type of the token endpoint. The endpoint does every step
// they share, so no grant can forget one.
type grant interface {
	handle(ctx context.Context, req *tokenRequest) (*issued, error)
}

// route tells the token endpoint how the request's path identifies a client.
type route struct {
	// client is set on the per-client URL /clients/{namespace}/{name}/token.
	client *types.NamespacedName
	// alias is true on a --token-path-alias path that is not a template: a
	// request naming no client gets the path's default client.
	alias bool
	// path is the path's entry: its settings, and the path a client claims.
	path contract.TokenPath
}

// serveToken is POST /oauth/token and its aliases (RFC 6749 §3.2).
func (s *Server) serveToken(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.writeTokenError(w, r, oauth.NewError(http.StatusMethodNotAllowed, oauth.ErrInvalidRequest, "the token endpoint accepts POST only"), profileFor(rt.path, nil))
			return
		}
		// A copy per request: the route is shared by every request on it.
		reqRoute := rt
		if ns, name := r.PathValue("namespace"), r.PathValue("name"); ns != "" {
			reqRoute.client = &types.NamespacedName{Namespace: ns, Name: name}
		}
		start := s.opts.Clock.Now()
		grantType, c, res, err := s.token(r, reqRoute)
		s.metrics.observeToken(grantType, err, s.opts.Clock.Since(start))
		pr := profileFor(rt.path, c)
		if err != nil {
			s.writeTokenError(w, r, err, pr)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, res.response(pr))
	}
}

// token answers a token request; the client is returned once authenticated
// (its compatibility settings shape the answer, errors included).
func (s *Server) token(r *http.Request, rt route) (string, *store.Client, *issued, error) {
	p, perr := oauth.ParseParams(r, s.opts.MaxBodyBytes)
	if perr != nil {
		return "", nil, nil, perr
	}
	in := newGrantParams(p)
	grantType := in.grantType
	g, ok := s.grants[v1alpha1.GrantType(grantType)]
	if !ok {
		if grantType == "" {
			return "", nil, nil, oauth.InvalidRequest("grant_type is missing")
		}
		return "other", nil, nil, oauth.NewError(http.StatusBadRequest, oauth.ErrUnsupportedGrantType, "grant_type "+oauth.QuoteShort(grantType)+" is not supported")
	}
	c, err := s.authenticateClient(r.Context(), r, p, rt)
	if err != nil {
		return grantType, nil, nil, err
	}
	res, err := s.runGrant(r.Context(), c, g, in, oauth.SourceAddr(r))
	return grantType, c, res, err
}

// runGrant does the steps every grant shares once the client is known: the
// client may use the grant, the scope and audience are within its own, then
// the grant itself. The token endpoint and the in-process issuer of workload
// tokens both come through here.
func (s *Server) runGrant(ctx context.Context, c *store.Client, g grant, in grantParams, source string) (*issued, error) {
	grantType := in.grantType
	if !c.Object.HasGrant(v1alpha1.GrantType(grantType)) || grantType == string(v1alpha1.GrantImplicit) {
		return nil, oauth.NewError(http.StatusBadRequest, oauth.ErrUnauthorizedClient, "the client may not use grant_type "+grantType)
	}
	req := &tokenRequest{in: in, client: c, source: source, now: s.opts.Clock.Now()}
	scopes, err := oauth.CheckScopes(c.Object, in.scope, grantType)
	if err != nil {
		return nil, err
	}
	if req.audience, req.scopes, err = s.newTarget(ctx, c.Object, in.audience, scopes, len(in.scope) > 0); err != nil {
		return nil, err
	}
	return g.handle(ctx, req)
}

// authenticateClient finds the client and checks its secret. Every failure
// gives the same answer, whether the client is unknown or the secret wrong.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, p oauth.Params, rt route) (*store.Client, error) {
	if hasAssertion(p) {
		return s.authenticateAssertion(ctx, r, p, rt)
	}
	creds, perr := oauth.ClientCredentialsFrom(r, p)
	if perr != nil {
		return nil, perr
	}
	var c *store.Client
	var err error
	switch {
	case rt.client != nil:
		c, err = s.dir.ClientByName(ctx, rt.client.Namespace, rt.client.Name)
		if err == nil && creds.ID != "" && creds.ID != c.Object.Status.ClientID {
			err = store.ErrNotFound
		}
	case creds.ID == "" && rt.alias:
		c, err = s.defaultClient(ctx, rt.path)
	default:
		c, err = s.dir.ClientByID(ctx, creds.ID)
	}
	if err != nil {
		if err != store.ErrNotFound {
			return nil, err
		}
		// Spend the same compare an existing client would, so timing does
		// not tell unknown clients from wrong secrets.
		credentials.Equal(creds.Secret, "unknown-client")
		s.metrics.clientAuthFailed()
		return nil, oauth.InvalidClient()
	}
	if !s.checkClientSecret(c, creds.Secret) {
		s.metrics.clientAuthFailed()
		return nil, oauth.InvalidClient()
	}
	return c, nil
}

// checkClientSecret: a public client presents no secret; a confidential one
// presents its current secret or, during a rotation overlap, the previous.
func (s *Server) checkClientSecret(c *store.Client, presented string) bool {
	if c.Object.Spec.Public {
		return presented == ""
	}
	if presented == "" || c.Secret == "" {
		return false
	}
	ok := credentials.Equal(presented, c.Secret)
	if c.PreviousSecret != "" && s.opts.Clock.Now().Before(c.PreviousExpiresAt) {
		ok = credentials.Equal(presented, c.PreviousSecret) || ok
	}
	return ok
}

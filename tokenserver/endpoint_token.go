package tokenserver

import (
	"context"
	"net"
	"net/http"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
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
	// alias is true on a --token-path-alias path.
	alias bool
}

// serveToken is POST /oauth/token and its aliases (RFC 6749 §3.2).
func (s *Server) serveToken(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, newError(http.StatusMethodNotAllowed, errInvalidRequest, "the token endpoint accepts POST only"))
			return
		}
		// A copy per request: the route is shared by every request on it.
		reqRoute := rt
		if ns, name := r.PathValue("namespace"), r.PathValue("name"); ns != "" {
			reqRoute.client = &types.NamespacedName{Namespace: ns, Name: name}
		}
		start := s.opts.Clock.Now()
		grantType, res, err := s.token(r, reqRoute)
		s.metrics.observeToken(grantType, err, s.opts.Clock.Since(start))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res.response())
	}
}

func (s *Server) token(r *http.Request, rt route) (string, *issued, error) {
	p, perr := parseParams(r, s.opts.MaxBodyBytes)
	if perr != nil {
		return "", nil, perr
	}
	in := newGrantParams(p)
	grantType := in.grantType
	g, ok := s.grants[v1alpha1.GrantType(grantType)]
	if !ok {
		if grantType == "" {
			return "", nil, invalidRequest("grant_type is missing")
		}
		return "other", nil, newError(http.StatusBadRequest, errUnsupportedGrantType, "grant_type "+quoteShort(grantType)+" is not supported")
	}
	c, err := s.authenticateClient(r.Context(), r, p, rt)
	if err != nil {
		return grantType, nil, err
	}
	res, err := s.runGrant(r.Context(), c, g, in, sourceAddr(r))
	return grantType, res, err
}

// runGrant does the steps every grant shares once the client is known: the
// client may use the grant, the scope and audience are within its own, then
// the grant itself. The token endpoint and the in-process issuer of workload
// tokens both come through here.
func (s *Server) runGrant(ctx context.Context, c *store.Client, g grant, in grantParams, source string) (*issued, error) {
	grantType := in.grantType
	if !c.Object.HasGrant(v1alpha1.GrantType(grantType)) || grantType == string(v1alpha1.GrantImplicit) {
		return nil, newError(http.StatusBadRequest, errUnauthorizedClient, "the client may not use grant_type "+grantType)
	}
	req := &tokenRequest{in: in, client: c, source: source, now: s.opts.Clock.Now()}
	var err error
	if req.scopes, err = checkScopes(c.Object, in.scope, grantType); err != nil {
		return nil, err
	}
	if req.audience, err = checkAudience(c.Object, in.audience); err != nil {
		return nil, err
	}
	return g.handle(ctx, req)
}

// authenticateClient finds the client and checks its secret. Every failure
// gives the same answer, whether the client is unknown or the secret wrong.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, p params, rt route) (*store.Client, error) {
	creds, perr := clientCredentialsFrom(r, p)
	if perr != nil {
		return nil, perr
	}
	var c *store.Client
	var err error
	switch {
	case rt.client != nil:
		c, err = s.dir.ClientByName(ctx, rt.client.Namespace, rt.client.Name)
		if err == nil && creds.id != "" && creds.id != c.Object.Status.ClientID {
			err = store.ErrNotFound
		}
	case creds.id == "" && rt.alias && s.opts.DefaultClient != nil:
		c, err = s.dir.ClientByName(ctx, s.opts.DefaultClient.Namespace, s.opts.DefaultClient.Name)
	default:
		c, err = s.dir.ClientByID(ctx, creds.id)
	}
	if err != nil {
		if err != store.ErrNotFound {
			return nil, err
		}
		// Spend the same compare an existing client would, so timing does
		// not tell unknown clients from wrong secrets.
		credentials.Equal(creds.secret, "unknown-client")
		s.metrics.clientAuthFailed()
		return nil, invalidClient()
	}
	if !s.checkClientSecret(c, creds.secret) {
		s.metrics.clientAuthFailed()
		return nil, invalidClient()
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

// The OpenID Connect scopes (OpenID Connect Core §5.4, §11).
const (
	scopeOpenID        = "openid"
	scopeProfile       = "profile"
	scopeEmail         = "email"
	scopeOfflineAccess = "offline_access"
)

func isUserScope(s string) bool {
	return s == scopeOpenID || s == scopeProfile || s == scopeEmail || s == scopeOfflineAccess
}

// checkScopes returns the scopes to grant. A request outside the client's
// scopes is invalid_scope (RFC 6749 §3.3); with none requested the client's
// scopes are granted, except the user scopes for client_credentials, which has
// no user, and offline_access, which must be asked for.
func checkScopes(c *v1alpha1.OAuthClient, requested []string, grantType string) ([]string, error) {
	userless := grantType == string(v1alpha1.GrantClientCredentials)
	if len(requested) == 0 {
		var out []string
		for _, sc := range c.Spec.Scopes {
			if sc != scopeOfflineAccess && !(userless && isUserScope(sc)) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	var out []string
	for _, sc := range requested {
		if !slices.Contains(c.Spec.Scopes, sc) {
			return nil, invalidScope("scope " + quoteShort(sc) + " is not allowed for this client")
		}
		if userless && isUserScope(sc) {
			return nil, invalidScope("scope " + quoteShort(sc) + " needs a user; client_credentials has none")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// checkAudience returns the aud of the access token: what the request asks for
// with "audience" (space-separated) or "resource" (RFC 8707), within the
// client's audiences; by default all of them, or the client itself.
func checkAudience(c *v1alpha1.OAuthClient, asked []string) ([]string, error) {
	if len(asked) == 0 {
		if len(c.Spec.Audiences) > 0 {
			return c.Spec.Audiences, nil
		}
		return []string{c.Status.ClientID}, nil
	}
	for _, a := range asked {
		if !slices.Contains(c.Spec.Audiences, a) {
			return nil, newError(http.StatusBadRequest, errInvalidTarget, "audience "+quoteShort(a)+" is not allowed for this client")
		}
	}
	return asked, nil
}

// sourceAddr is the client's IP for throttling. Proxies are not trusted: the
// TCP peer is the source (a deployment behind a proxy throttles per proxy).
func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func quoteShort(s string) string { return `"` + truncate(s) + `"` }

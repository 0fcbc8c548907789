package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Compatibility with clients written against other token APIs: the paths
// they call (--token-path-alias, templates naming the client), the client
// answering a path when a request names none, and the shape of answers
// (spec.compatibility, path options).

// profile is the shape of one token answer.
type profile struct {
	errors   v1alpha1.ErrorStyle
	issuedAt v1alpha1.IssuedAtStyle
	user     v1alpha1.UserObjectStyle
}

// profileFor takes each setting from the client when it sets it, else from
// the path. Before the client is known (c is nil: an unknown client, a
// wrong secret, a malformed request) only the path decides, so the answer
// to a failed authentication never depends on which client was named.
func profileFor(p contract.TokenPath, c *store.Client) profile {
	pr := profile{errors: p.ErrorStyle, issuedAt: p.IssuedAt, user: p.UserObject}
	if c == nil {
		return pr
	}
	if cc := c.Object.Spec.Compatibility; cc != nil {
		if cc.ErrorStyle != "" {
			pr.errors = cc.ErrorStyle
		}
		if cc.IssuedAt != "" {
			pr.issuedAt = cc.IssuedAt
		}
	}
	if u := c.Object.EffectiveUserObject(); u != "" {
		pr.user = u
	}
	return pr
}

// writeTokenError is fail in the error style of the answer's profile.
func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, err error, pr profile) {
	err = s.failure(r, err)
	if pr.errors == v1alpha1.ErrorStyleDetail {
		oauth.WriteErrorWithDetail(w, err)
		return
	}
	oauth.WriteError(w, err)
}

// defaultClient is the client of a request on an alias path that names
// none: the client holding the path as its default, while its namespace may
// claim the path (the controller decides the holder; the server checks the
// platform team's list again, so a holder recorded before the list changed
// answers nothing), else --default-client.
func (s *Server) defaultClient(ctx context.Context, p contract.TokenPath) (*store.Client, error) {
	c, err := s.dir.ClientByDefaultPath(ctx, p.Path)
	switch {
	case err == nil && p.MayClaim(c.Object.Namespace):
		return c, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	case s.opts.DefaultClient == nil:
		return nil, store.ErrNotFound
	}
	return s.dir.ClientByName(ctx, s.opts.DefaultClient.Namespace, s.opts.DefaultClient.Name)
}

// tokenRoutes registers /oauth/token and every alias. The settings of an
// entry naming /oauth/token itself apply to it.
func (s *Server) tokenRoutes(mux *http.ServeMux) {
	builtin := contract.TokenPath{Path: "/oauth/token"}
	for _, p := range s.paths {
		if p.Path == builtin.Path {
			builtin = p
			continue
		}
		// A template names its client: it never falls back to a default.
		mux.Handle(p.Path, s.serveToken(route{alias: !p.Template, path: p}))
	}
	mux.Handle(builtin.Path, s.serveToken(route{path: builtin}))
}

// checkedRoutes builds the routes; an alias whose pattern conflicts with
// another route (http.ServeMux panics on two patterns that match the same
// requests with neither more specific) is an error at start.
func (s *Server) checkedRoutes() (h http.Handler, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("token path aliases conflict with the server's routes: %v", v)
		}
	}()
	return s.routes(), nil
}

// validateTokenPaths parses the aliases; /oauth/token takes response
// settings but is never claimable (it is not an alias: a request there
// names its client).
func validateTokenPaths(entries []string) ([]contract.TokenPath, error) {
	paths, err := contract.ParseTokenPaths(entries)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if p.Path == "/oauth/token" && len(p.Claimable) > 0 {
			return nil, errors.New("/oauth/token is not an alias: it cannot be claimable")
		}
		if strings.HasPrefix(p.Path, "/.well-known/") {
			return nil, fmt.Errorf("token path alias %q: /.well-known/ is for discovery", p.Path)
		}
	}
	return paths, nil
}

package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/grants"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// A token carries only what was granted (the trust model in ARCHITECTURE.md):
// its aud is the client itself or audiences held by OAuthResources that grant
// the client, and its scopes are OpenID Connect scopes, scopes those resources
// grant, or, when the client itself is an audience, the client's own scopes
// that no resource of the token defines. What a client's spec asks for is a
// request; internal/grants decides it, the same way the controller decides
// the client's status.

// target is a token's audience with the grant decisions behind it.
type target struct {
	audience []string
	// self: the client itself is an audience.
	self      bool
	decisions []grants.Decision
}

// allows reports whether a scope may be in a token for t.
func (t *target) allows(scope string) bool {
	if oauth.IsUserScope(scope) {
		return true
	}
	denied := false
	for _, d := range t.decisions {
		if slices.Contains(d.Allowed, scope) {
			return true
		}
		denied = denied || slices.Contains(d.Denied, scope)
	}
	return t.self && !denied
}

// filter keeps the scopes t allows and returns the others.
func (t *target) filter(scopes []string) (kept, refused []string) {
	for _, sc := range scopes {
		if t.allows(sc) {
			kept = append(kept, sc)
		} else {
			refused = append(refused, sc)
		}
	}
	return kept, refused
}

// grantDecider decides audiences for one client, reading its namespace's
// labels at most once.
type grantDecider struct {
	s      *Server
	client *v1alpha1.OAuthClient
	labels map[string]string
	read   bool
}

func (s *Server) decider(c *v1alpha1.OAuthClient) *grantDecider {
	return &grantDecider{s: s, client: c}
}

// decide asks whether the client may have tokens for aud, and with which of
// scopes; the client's own client_id is always granted.
func (g *grantDecider) decide(ctx context.Context, aud string, scopes []string) (grants.Decision, bool, error) {
	c := g.client
	if aud == c.Status.ClientID {
		return grants.Decision{Granted: true}, true, nil
	}
	r, err := g.s.dir.ResourceByAudience(ctx, aud)
	if errors.Is(err, store.ErrNotFound) {
		r, err = nil, nil
	}
	if err != nil {
		return grants.Decision{}, false, err
	}
	if r != nil && !g.read {
		if g.labels, err = g.s.dir.NamespaceLabels(ctx, c.Namespace); err != nil && !errors.Is(err, store.ErrNotFound) {
			return grants.Decision{}, false, err
		}
		g.read = true
	}
	d := grants.Decide(grants.Request{
		ClientNamespace: c.Namespace, ClientName: c.Name, NamespaceLabels: g.labels,
		Audience: aud, Resource: r, Scopes: scopes,
	})
	return d, false, nil
}

// resolve builds the target of auds: with strict, an audience that is not
// granted is invalid_target (RFC 8707 §2); without, it is left out (a default
// audience, or one a grant no longer covers at a refresh). An empty result is
// the client itself.
func (g *grantDecider) resolve(ctx context.Context, auds, scopes []string, strict bool) (*target, error) {
	t := &target{}
	for _, a := range auds {
		d, self, err := g.decide(ctx, a, scopes)
		if err != nil {
			return nil, err
		}
		switch {
		case self:
			t.self = true
		case d.Granted:
			t.decisions = append(t.decisions, d)
		case strict:
			return nil, oauth.NewError(http.StatusBadRequest, oauth.ErrInvalidTarget, "audience "+oauth.QuoteShort(a)+" is not granted to this client")
		default:
			// Left out, but the scopes its resource defines stay its
			// own: they never ride along on a token for the client.
			t.decisions = append(t.decisions, d)
			continue
		}
		if !slices.Contains(t.audience, a) {
			t.audience = append(t.audience, a)
		}
	}
	if len(t.audience) == 0 {
		t.audience, t.self = []string{g.client.Status.ClientID}, true
	}
	return t, nil
}

// newTarget decides the audience and scopes of a new token: asked (the
// request's audience or resource parameters) or, by default, the client's
// granted spec.audiences; scopes within what the target allows, an explicit
// request for more being invalid_scope.
func (s *Server) newTarget(ctx context.Context, c *v1alpha1.OAuthClient, askedAud, scopes []string, explicitScopes bool) ([]string, []string, error) {
	auds, strict := askedAud, true
	if len(auds) == 0 {
		auds, strict = c.Spec.Audiences, false
	}
	t, err := s.decider(c).resolve(ctx, auds, scopes, strict)
	if err != nil {
		return nil, nil, err
	}
	kept, refused := t.filter(scopes)
	if explicitScopes && len(refused) > 0 {
		return nil, nil, oauth.InvalidScope("scope " + oauth.QuoteShort(refused[0]) + " is not granted for the token's audience")
	}
	return t.audience, kept, nil
}

// narrowTarget re-decides a stored grant (a refresh family, an authorization
// code) against today's grants: audiences no longer granted and scopes no
// longer allowed are left out, so a withdrawn grant disappears from the next
// token.
func (s *Server) narrowTarget(ctx context.Context, c *v1alpha1.OAuthClient, auds, scopes []string) ([]string, []string, error) {
	t, err := s.decider(c).resolve(ctx, auds, scopes, false)
	if err != nil {
		return nil, nil, err
	}
	kept, _ := t.filter(scopes)
	return t.audience, kept, nil
}

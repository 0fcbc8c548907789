package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Token types of RFC 8693 §3.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// tokenExchangeGrant is RFC 8693: a confidential client exchanges a subject
// token of its own namespace (a Tokenwarden access token of any client of
// the namespace, which is the tenant, or a ServiceAccount token) for an
// access token for an audience it is granted. The endpoint has already decided the audience and scopes against
// the client's grants (target.go); the exchange narrows the scopes further
// to the subject token's, so the new token never carries what neither
// allowed. An actor_token makes it delegation: the act claim (§4.1) names
// the actor. Invalid or unacceptable subject and actor tokens are
// invalid_request (§2.2.2).
type tokenExchangeGrant struct{ s *Server }

// exchangeParty is a validated subject or actor token.
type exchangeParty struct {
	// subject is its sub: a user's UID, "client:<id>", or a ServiceAccount.
	subject string
	// scopes of an access token; scoped is false for a ServiceAccount token,
	// which carries none (the client's grant alone bounds the scopes).
	scopes []string
	scoped bool
	// act is the token's own act claim: a delegation chain to keep.
	act      any
	username string
}

func (g tokenExchangeGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	in, c := req.in, req.client.Object
	if c.Spec.Public {
		return nil, oauth.NewError(http.StatusBadRequest, oauth.ErrUnauthorizedClient, "a public client cannot exchange tokens")
	}
	switch {
	case in.requestedTokenType != "" && in.requestedTokenType != TokenTypeAccessToken:
		return nil, oauth.InvalidRequest("requested_token_type must be " + TokenTypeAccessToken)
	case in.subjectToken == "" || in.subjectTokenType == "":
		return nil, oauth.InvalidRequest("subject_token and subject_token_type are required")
	case (in.actorToken == "") != (in.actorTokenType == ""):
		return nil, oauth.InvalidRequest("actor_token and actor_token_type go together")
	}
	subject, err := g.s.exchangeParty(ctx, c, in.subjectToken, in.subjectTokenType, "subject_token")
	if err != nil {
		return nil, err
	}
	o := issueOptions{subject: subject.subject, issuedTokenType: TokenTypeAccessToken, extra: map[string]any{}}
	if subject.username != "" {
		o.extra["preferred_username"] = subject.username
	}
	act := subject.act
	if in.actorToken != "" {
		actor, err := g.s.exchangeParty(ctx, c, in.actorToken, in.actorTokenType, "actor_token")
		if err != nil {
			return nil, err
		}
		a := map[string]any{"sub": actor.subject}
		if act != nil {
			a["act"] = act
		}
		act = a
	}
	if act != nil {
		o.extra["act"] = act
	}
	if req.scopes, err = narrowToSubject(req.scopes, subject, len(in.scope) > 0); err != nil {
		return nil, err
	}
	return g.s.issue(ctx, req, nil, o)
}

// narrowToSubject keeps the scopes the subject token also holds; asking
// explicitly for one it does not hold is invalid_scope. No exchanged token
// carries offline_access (an exchange issues no refresh token), nor, for a
// subject that is not a user, the OpenID Connect user scopes.
func narrowToSubject(scopes []string, sub *exchangeParty, explicit bool) ([]string, error) {
	var kept []string
	for _, sc := range scopes {
		ok := sc != oauth.ScopeOfflineAccess && (sub.username != "" || !oauth.IsUserScope(sc))
		if ok && sub.scoped {
			ok = slices.Contains(sub.scopes, sc)
		}
		switch {
		case ok:
			kept = append(kept, sc)
		case explicit:
			return nil, oauth.InvalidScope("scope " + oauth.QuoteShort(sc) + " is not held by the subject token")
		}
	}
	return kept, nil
}

// exchangeParty validates a subject or actor token for client c: active, and
// of c's namespace. A token of another namespace is refused whatever it is
// addressed to: no tenant acts as another's subject.
func (s *Server) exchangeParty(ctx context.Context, c *v1alpha1.OAuthClient, tok, typ, what string) (*exchangeParty, error) {
	switch typ {
	case TokenTypeAccessToken:
		at, err := s.checkAccessToken(ctx, tok)
		if errors.Is(err, store.ErrNotFound) {
			return nil, oauth.InvalidRequest(what + " is not an active access token")
		}
		if err != nil {
			return nil, err
		}
		if at.client.Object.Namespace != c.Namespace {
			return nil, oauth.InvalidRequest(what + " was issued in another namespace")
		}
		p := &exchangeParty{subject: at.claims.Subject, scopes: strings.Fields(at.claims.Scope), scoped: true, act: at.claims.Raw["act"]}
		if at.user != nil {
			p.username = at.user.Object.Status.Username
		}
		return p, nil
	case TokenTypeJWT:
		ns, name, err := s.reviewedServiceAccount(ctx, tok)
		if errors.Is(err, errAssertionRefused) {
			return nil, oauth.InvalidRequest(what + " is not a valid ServiceAccount token for this server")
		}
		if err != nil {
			return nil, err
		}
		if ns != c.Namespace {
			return nil, oauth.InvalidRequest(what + " is a ServiceAccount of another namespace")
		}
		return &exchangeParty{subject: serviceAccountPrefix + ns + ":" + name}, nil
	}
	return nil, oauth.InvalidRequest("unsupported " + what + "_type")
}

package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Client assertions (RFC 7521 §4.2, RFC 7523 §2.2): a client authenticates
// with a signed JWT instead of a secret. Two kinds are accepted, told apart
// by the subject: a Kubernetes ServiceAccount token ("system:serviceaccount:
// <namespace>:<name>"), which the API server vouches for through the
// TokenReview API, and private_key_jwt (iss = sub = client_id), verified with
// the client's own public keys (clientauth_privatekey.go).

// AssertionTypeJWTBearer is the one client_assertion_type accepted.
const AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// serviceAccountPrefix starts the username of every ServiceAccount.
const serviceAccountPrefix = "system:serviceaccount:"

// assertionLeeway is the clock skew allowed on nbf, iat and exp.
const assertionLeeway = 30 * time.Second

// errAssertionRefused is a client assertion that does not authenticate;
// authenticateClient answers it like every failed client authentication.
var errAssertionRefused = errors.New("client assertion refused")

// assertionAlgorithms are the algorithms an assertion may be signed with:
// asymmetric only. "none" and HMAC are refused when the JWT is parsed, before
// any key is looked at (an HMAC key would be a shared secret, and a public
// key must never be usable as one).
func assertionAlgorithms() []jose.SignatureAlgorithm {
	return keys.ClientAssertionAlgorithms()
}

// hasAssertion reports whether the request authenticates with a client
// assertion.
func hasAssertion(p oauth.Params) bool {
	_, typ := p["client_assertion_type"]
	_, a := p["client_assertion"]
	return typ || a
}

// authenticateAssertion authenticates the client of a request carrying a
// client assertion. Any failure is invalid_client, except a request that
// also authenticates another way (invalid_request, RFC 6749 §2.3) and an API
// server that cannot answer (503).
func (s *Server) authenticateAssertion(ctx context.Context, r *http.Request, p oauth.Params, rt route) (*store.Client, error) {
	if r.Header.Get("Authorization") != "" || p["client_secret"] != "" {
		return nil, oauth.InvalidRequest("the client authenticated twice: use either a client assertion or a client secret")
	}
	if p["client_assertion_type"] != AssertionTypeJWTBearer || p["client_assertion"] == "" {
		return nil, s.clientAuthFailed()
	}
	raw := p["client_assertion"]
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms())
	if err != nil || len(tok.Headers) != 1 {
		return nil, s.clientAuthFailed()
	}
	var claims jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return nil, s.clientAuthFailed()
	}
	var c *store.Client
	if strings.HasPrefix(claims.Subject, serviceAccountPrefix) {
		c, err = s.authenticateServiceAccount(ctx, raw, &claims, p["client_id"], rt)
	} else {
		c, err = s.authenticatePrivateKeyJWT(ctx, r, tok, &claims, p["client_id"], rt)
	}
	if errors.Is(err, errAssertionRefused) || errors.Is(err, store.ErrNotFound) {
		return nil, s.clientAuthFailed()
	}
	return c, err
}

// clientAuthFailed counts a failed client authentication and returns the one
// answer they all get.
func (s *Server) clientAuthFailed() *oauth.Error {
	s.metrics.clientAuthFailed()
	return oauth.InvalidClient()
}

// assertedClient finds the client an assertion names: the per-client URL's,
// or the one of id. An id that disagrees with the URL finds none.
func (s *Server) assertedClient(ctx context.Context, id string, rt route) (*store.Client, error) {
	if rt.client != nil {
		c, err := s.dir.ClientByName(ctx, rt.client.Namespace, rt.client.Name)
		if err == nil && id != "" && id != c.Object.Status.ClientID {
			return nil, store.ErrNotFound
		}
		return c, err
	}
	return s.dir.ClientByID(ctx, id)
}

// authenticateServiceAccount: the token's ServiceAccount must be listed by
// the client, in the client's namespace; the token must be for one of the
// server's audiences only, and unexpired; then the API server must vouch for
// it. Everything decidable locally is checked first, so a token that cannot
// authenticate costs no API call.
func (s *Server) authenticateServiceAccount(ctx context.Context, raw string, claims *jwt.Claims, id string, rt route) (*store.Client, error) {
	ns, name, err := s.serviceAccountOf(claims)
	if err != nil {
		return nil, err
	}
	c, err := s.serviceAccountClient(ctx, ns, name, id, rt)
	if err != nil {
		return nil, err
	}
	if err := s.reviews.check(ctx, raw, claims.Subject, claims.Expiry.Time()); err != nil {
		return nil, err
	}
	return c, nil
}

// serviceAccountOf checks what can be checked of a ServiceAccount token
// without the API server (its unverified claims: a failure here is final, a
// success means nothing until the review) and returns its ServiceAccount.
func (s *Server) serviceAccountOf(claims *jwt.Claims) (ns, name string, err error) {
	ns, name, ok := strings.Cut(strings.TrimPrefix(claims.Subject, serviceAccountPrefix), ":")
	if !ok || ns == "" || name == "" || strings.Contains(name, ":") || s.reviews == nil {
		return "", "", errAssertionRefused
	}
	now := s.opts.Clock.Now()
	if claims.Expiry == nil || !now.Before(claims.Expiry.Time()) ||
		(claims.NotBefore != nil && now.Add(assertionLeeway).Before(claims.NotBefore.Time())) ||
		!s.reviews.accepts(claims.Audience) {
		return "", "", errAssertionRefused
	}
	return ns, name, nil
}

// reviewedServiceAccount parses a ServiceAccount token, checks it locally
// and has the API server vouch for it; errAssertionRefused when it is not a
// valid one.
func (s *Server) reviewedServiceAccount(ctx context.Context, raw string) (ns, name string, err error) {
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms())
	if err != nil || len(tok.Headers) != 1 {
		return "", "", errAssertionRefused
	}
	var claims jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil || !strings.HasPrefix(claims.Subject, serviceAccountPrefix) {
		return "", "", errAssertionRefused
	}
	if ns, name, err = s.serviceAccountOf(&claims); err != nil {
		return "", "", err
	}
	return ns, name, s.reviews.check(ctx, raw, claims.Subject, claims.Expiry.Time())
}

// serviceAccountClient finds the client a ServiceAccount token authenticates
// as: the one named (client_id or the per-client URL), or, with none named,
// the only client of the namespace listing the ServiceAccount.
func (s *Server) serviceAccountClient(ctx context.Context, ns, name, id string, rt route) (*store.Client, error) {
	var c *store.Client
	if id != "" || rt.client != nil {
		var err error
		if c, err = s.assertedClient(ctx, id, rt); err != nil {
			return nil, err
		}
	} else {
		cs, err := s.dir.ClientsForServiceAccount(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		if len(cs) != 1 {
			// None, or several: the request must say which (client_id).
			return nil, errAssertionRefused
		}
		c = cs[0]
	}
	if !c.Object.MayActAsServiceAccount(ns, name) {
		return nil, errAssertionRefused
	}
	return c, nil
}

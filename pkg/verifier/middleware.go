package verifier

import (
	"context"
	"net/http"
	"strings"
)

// claimsKey is the context key of the verified claims.
type claimsKey struct{}

// ClaimsFromContext returns the claims the middleware verified for this
// request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// WithClaims returns a context carrying c, for handlers tested without the
// middleware.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Authorize checks that c grants every scope in scopes; the error wraps
// ErrInsufficientScope and names what the route requires (RFC 6750 §3.1).
func Authorize(c *Claims, scopes ...string) error {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return &Error{kind: ErrInsufficientScope, Description: "the token lacks a scope this request requires", Scope: strings.Join(scopes, " ")}
		}
	}
	return nil
}

// Require returns middleware that passes a request on only with a valid
// Bearer token (RFC 6750 §2.1, the Authorization header) that grants every
// one of scopes, with its claims in the request context. Otherwise it answers
// with WriteError: 401 invalid_token, 403 insufficient_scope, or 503 when the
// issuer cannot be reached. The realm of the challenge is the issuer.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.VerifyRequest(r)
			if err == nil {
				err = Authorize(c, scopes...)
			}
			if err != nil {
				WriteError(w, v.cfg.Issuer, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

// VerifyRequest verifies the Bearer token of r's Authorization header. A
// request without one fails with ErrInvalidToken wrapping a "no token"
// cause, which WriteError answers with the bare challenge (RFC 6750 §3.1).
func (v *Verifier) VerifyRequest(r *http.Request) (*Claims, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, invalid("a Bearer token is required", errNoToken)
	}
	return v.Verify(r.Context(), token)
}

// bearerToken extracts the token of "Bearer <token>"; the scheme is case
// insensitive (RFC 9110 §11.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

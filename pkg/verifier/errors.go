package verifier

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels for errors.Is on the errors of Verify and Authorize.
var (
	// ErrInvalidToken: the token is malformed, expired, revoked, not signed
	// by the issuer, or not meant for this resource server (RFC 6750 §3.1).
	ErrInvalidToken = errors.New("invalid_token")
	// ErrInsufficientScope: the token is valid but lacks a required scope.
	ErrInsufficientScope = errors.New("insufficient_scope")
	// ErrUnavailable: the verifier could not reach the issuer (JWKS or
	// introspection) and cannot decide; the request should be retried.
	ErrUnavailable = errors.New("issuer unavailable")
)

// Error is a verification failure with what a resource server answers for
// it. Description is fixed text chosen by this package, never taken from the
// token, so it is safe to send back.
type Error struct {
	kind        error
	Description string
	// Scope lists the scopes a route requires, for insufficient_scope.
	Scope string
	cause error
}

func (e *Error) Error() string {
	msg := e.kind.Error() + ": " + e.Description
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalidToken) and its siblings work.
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Status is the HTTP status of the failure: 401, 403 or 503.
func (e *Error) Status() int {
	switch e.kind {
	case ErrInsufficientScope:
		return http.StatusForbidden
	case ErrUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

func invalid(description string, cause error) *Error {
	return &Error{kind: ErrInvalidToken, Description: description, cause: cause}
}

func unavailable(description string, cause error) *Error {
	return &Error{kind: ErrUnavailable, Description: description, cause: cause}
}

// WriteError answers a failed request as RFC 6750 §3 says: 401 with
// `WWW-Authenticate: Bearer error="invalid_token"`, or 403 with
// error="insufficient_scope" and the scope the route needs, and a JSON body
// with the same fields. A request that carried no token gets the bare Bearer
// challenge (§3.1: no error code). Any other error is a 503.
func WriteError(w http.ResponseWriter, realm string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = unavailable("token verification failed", err)
	}
	challenge := []string{}
	if realm != "" {
		challenge = append(challenge, fmt.Sprintf("realm=%q", realm))
	}
	if e.kind != ErrUnavailable && !errors.Is(e, errNoToken) {
		challenge = append(challenge, fmt.Sprintf("error=%q", e.kind.Error()), fmt.Sprintf("error_description=%q", e.Description))
	}
	if e.Scope != "" {
		challenge = append(challenge, fmt.Sprintf("scope=%q", e.Scope))
	}
	h := w.Header()
	if e.kind != ErrUnavailable {
		h.Set("WWW-Authenticate", strings.TrimSpace("Bearer "+strings.Join(challenge, ", ")))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status())
	if e.kind == ErrUnavailable {
		fmt.Fprintf(w, "{\"error\":\"temporarily_unavailable\",\"error_description\":%q}\n", e.Description)
		return
	}
	if errors.Is(e, errNoToken) {
		fmt.Fprintln(w, `{"error":"unauthorized","error_description":"a Bearer token is required"}`)
		return
	}
	fmt.Fprintf(w, "{\"error\":%q,\"error_description\":%q}\n", e.kind.Error(), e.Description)
}

// errNoToken marks a request without a Bearer token.
var errNoToken = errors.New("no bearer token")

package tokenserver

import (
	"encoding/json"
	"errors"
	"net/http"
)

// oauthError is an OAuth 2.0 error response (RFC 6749 §5.2). Grants and
// endpoints return one as a value; writeError is the only place that turns it
// into HTTP, so every error has the same shape, status and headers.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
	// basicChallenge marks a failed HTTP Basic client authentication, which
	// RFC 6749 §5.2 answers with 401 and WWW-Authenticate.
	basicChallenge bool
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

// Error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 and RFC 6750 §3.1.
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errInvalidGrant         = "invalid_grant"
	errUnauthorizedClient   = "unauthorized_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
	errInvalidToken         = "invalid_token"
	errServerError          = "server_error"
	errInvalidTarget        = "invalid_target"
)

func newError(status int, code, description string) *oauthError {
	return &oauthError{Code: code, Description: description, status: status}
}

func invalidRequest(description string) *oauthError {
	return newError(http.StatusBadRequest, errInvalidRequest, description)
}

func invalidGrant(description string) *oauthError {
	return newError(http.StatusBadRequest, errInvalidGrant, description)
}

func invalidScope(description string) *oauthError {
	return newError(http.StatusBadRequest, errInvalidScope, description)
}

// invalidClient is the one answer for every failed client authentication: an
// unknown client and a wrong secret must be indistinguishable.
func invalidClient() *oauthError {
	// RFC 6749 §5.2 allows 400 or 401 when the client did not use the
	// Authorization header; 401 is used throughout so clients need one rule,
	// and every 401 carries the Basic challenge HTTP requires (RFC 9110
	// §15.5.2), so the answer is also the same however the client
	// authenticated.
	e := newError(http.StatusUnauthorized, errInvalidClient, "client authentication failed")
	e.basicChallenge = true
	return e
}

// setNoStore sets the headers RFC 6749 §5.1 requires on every response that
// carries or concerns tokens.
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeJSON writes a JSON body with no-store headers.
func writeJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	setNoStore(h)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeError writes err as an RFC 6749 §5.2 response. Anything that is not an
// oauthError is unexpected: it is logged by the caller and answered with an
// opaque server_error, so no internal detail reaches the client.
func writeError(w http.ResponseWriter, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = newError(http.StatusInternalServerError, errServerError, "the server could not complete the request")
	}
	if oe.basicChallenge {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokenwarden", charset="UTF-8"`)
	}
	if oe.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, oe.status, oe)
}

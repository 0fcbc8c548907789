// Package oauth is the protocol vocabulary the token server and its browser
// flow share: OAuth error values and how they are written (RFC 6749 §5.2),
// request parameters (§3.2), scopes (§3.3), PKCE (RFC 7636) and the source
// address of a request. It knows nothing of storage or signing.
package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Grants and endpoints
// return one as a value; WriteError is the only place that turns it into
// HTTP, so every error has the same shape, status and headers.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status of the answer.
	Status int `json:"-"`
	// BasicChallenge marks a failed HTTP Basic client authentication, which
	// RFC 6749 §5.2 answers with 401 and WWW-Authenticate.
	BasicChallenge bool `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 8707 §2 and
// OpenID Connect Core §3.1.2.6.
const (
	ErrInvalidRequest          = "invalid_request"
	ErrInvalidClient           = "invalid_client"
	ErrInvalidGrant            = "invalid_grant"
	ErrUnauthorizedClient      = "unauthorized_client"
	ErrUnsupportedGrantType    = "unsupported_grant_type"
	ErrUnsupportedResponseType = "unsupported_response_type"
	ErrInvalidScope            = "invalid_scope"
	ErrInvalidToken            = "invalid_token"
	ErrInsufficientScope       = "insufficient_scope"
	ErrServerError             = "server_error"
	ErrTemporarilyUnavailable  = "temporarily_unavailable"
	ErrInvalidTarget           = "invalid_target"
	ErrLoginRequired           = "login_required"
	ErrConsentRequired         = "consent_required"
	ErrAccessDenied            = "access_denied"
)

// NewError is an error answer with the given status.
func NewError(status int, code, description string) *Error {
	return &Error{Code: code, Description: description, Status: status}
}

// InvalidRequest is a 400 invalid_request.
func InvalidRequest(description string) *Error {
	return NewError(http.StatusBadRequest, ErrInvalidRequest, description)
}

// InvalidGrant is a 400 invalid_grant.
func InvalidGrant(description string) *Error {
	return NewError(http.StatusBadRequest, ErrInvalidGrant, description)
}

// InvalidScope is a 400 invalid_scope.
func InvalidScope(description string) *Error {
	return NewError(http.StatusBadRequest, ErrInvalidScope, description)
}

// InvalidClient is the one answer for every failed client authentication: an
// unknown client and a wrong secret must be indistinguishable.
func InvalidClient() *Error {
	// RFC 6749 §5.2 allows 400 or 401 when the client did not use the
	// Authorization header; 401 is used throughout so clients need one rule,
	// and every 401 carries the Basic challenge HTTP requires (RFC 9110
	// §15.5.2), so the answer is also the same however the client
	// authenticated.
	e := NewError(http.StatusUnauthorized, ErrInvalidClient, "client authentication failed")
	e.BasicChallenge = true
	return e
}

// SetNoStore sets the headers RFC 6749 §5.1 requires on every response that
// carries or concerns tokens.
func SetNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// WriteJSON writes a JSON body with no-store headers.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	SetNoStore(h)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteError writes err as an RFC 6749 §5.2 response. Anything that is not an
// *Error is unexpected: it is logged by the caller and answered with an
// opaque server_error, so no internal detail reaches the client.
func WriteError(w http.ResponseWriter, err error) {
	oe := errorAnswer(w, err)
	WriteJSON(w, oe.Status, oe)
}

// WriteErrorWithDetail writes err as WriteError does, with the description
// also in a "detail" member, for clients written against APIs that answer
// {"detail": "..."}. RFC 6749 §5.2 clients still read error, and unknown
// members are ignored by them.
func WriteErrorWithDetail(w http.ResponseWriter, err error) {
	oe := errorAnswer(w, err)
	WriteJSON(w, oe.Status, struct {
		*Error
		Detail string `json:"detail"`
	}{oe, oe.Description})
}

// errorAnswer is the *Error err is answered with (an opaque server_error for
// anything else), with its headers set.
func errorAnswer(w http.ResponseWriter, err error) *Error {
	var oe *Error
	if !errors.As(err, &oe) {
		oe = NewError(http.StatusInternalServerError, ErrServerError, "the server could not complete the request")
	}
	if oe.BasicChallenge {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokenwarden", charset="UTF-8"`)
	}
	if oe.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	return oe
}

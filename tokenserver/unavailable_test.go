package tokenserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// TestUnavailableStoreIs503: a store that cannot reach the API server
// decided nothing, so the answer is 503 temporarily_unavailable with
// Retry-After (RFC 6749 §5.2), never 500; any other unexpected error stays
// an opaque 500. test/outage shows it end to end with the API server cut
// off.
func TestUnavailableStoreIs503(t *testing.T) {
	s := &Server{log: logr.Discard()}
	for _, tt := range []struct {
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{fmt.Errorf("update refresh family: %w", store.ErrUnavailable), http.StatusServiceUnavailable, "temporarily_unavailable", true},
		{errors.New("something else"), http.StatusInternalServerError, "server_error", false},
	} {
		// Every writer of error answers: the endpoints' and the token
		// endpoint's in both error styles of a client's profile.
		writers := map[string]func(http.ResponseWriter, *http.Request, error){
			"fail": s.fail,
			"token endpoint, rfc6749": func(w http.ResponseWriter, r *http.Request, err error) {
				s.writeTokenError(w, r, err, profile{errors: v1alpha1.ErrorStyleRFC6749})
			},
			"token endpoint, detail": func(w http.ResponseWriter, r *http.Request, err error) {
				s.writeTokenError(w, r, err, profile{errors: v1alpha1.ErrorStyleDetail})
			},
		}
		for name, write := range writers {
			w := httptest.NewRecorder()
			write(w, httptest.NewRequest(http.MethodPost, "/oauth/token", nil), tt.err)
			var body struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != tt.status || body.Error != tt.code || (w.Header().Get("Retry-After") != "") != tt.retryAfter {
				t.Errorf("%s, %v: %d %s Retry-After %q; want %d %s", name, tt.err, w.Code, body.Error, w.Header().Get("Retry-After"), tt.status, tt.code)
			}
		}
	}
}

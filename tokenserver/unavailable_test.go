package tokenserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"

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
		w := httptest.NewRecorder()
		s.fail(w, httptest.NewRequest(http.MethodPost, "/oauth/token", nil), tt.err)
		var body struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != tt.status || body.Error != tt.code || (w.Header().Get("Retry-After") != "") != tt.retryAfter {
			t.Errorf("%v: %d %s Retry-After %q; want %d %s", tt.err, w.Code, body.Error, w.Header().Get("Retry-After"), tt.status, tt.code)
		}
	}
}

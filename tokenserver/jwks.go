package tokenserver

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// serveJWKS is GET /.well-known/jwks.json: prepared bytes, a strong ETag and a
// max-age shorter than the key publish-ahead, so a verifier honouring the
// cache header always knows a key before it signs.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET")
		return
	}
	set := s.keys.Current()
	if set == nil {
		oauth.WriteError(w, oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "signing keys are not loaded yet"))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(keys.DefaultJWKSMaxAge.Seconds())))
	h.Set("ETag", set.ETag())
	if etagMatch(r.Header.Get("If-None-Match"), set.ETag()) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(set.JWKS())
}

// etagMatch implements If-None-Match (RFC 9110 §13.1.2) for one strong tag.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	oauth.WriteError(w, oauth.NewError(http.StatusMethodNotAllowed, oauth.ErrInvalidRequest, "method not allowed; use "+allow))
}

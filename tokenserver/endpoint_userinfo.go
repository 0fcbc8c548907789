package tokenserver

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"k8s.io/apimachinery/pkg/types"
)

func typesUID(s string) types.UID { return types.UID(s) }

// serveUserinfo is OpenID Connect Core §5.3: a Bearer access token with the
// openid scope yields the user's claims that its scopes release. Errors follow
// RFC 6750 §3.
func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, POST")
		return
	}
	tok := bearerToken(r)
	if tok == "" {
		// RFC 6750 §3.1: no error code when the request had no token.
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwarden"`)
		oauth.SetNoStore(w.Header())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	at, err := s.checkAccessToken(r.Context(), tok)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if err != nil || at.user == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwarden", error="invalid_token"`)
		oauth.WriteError(w, oauth.NewError(http.StatusUnauthorized, oauth.ErrInvalidToken, "the access token is invalid, expired, revoked, or not a user's"))
		return
	}
	scopes := strings.Fields(at.claims.Scope)
	if !slices.Contains(scopes, oauth.ScopeOpenID) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwarden", error="insufficient_scope", scope="openid"`)
		oauth.WriteError(w, oauth.NewError(http.StatusForbidden, oauth.ErrInsufficientScope, "the access token lacks the openid scope"))
		return
	}
	claims := userClaims(at.user.Object, scopes)
	claims["sub"] = at.claims.Subject
	oauth.WriteJSON(w, http.StatusOK, claims)
}

// bearerToken reads RFC 6750 §2.1 (header) or §2.2 (form body, POST only).
func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if r.Method == http.MethodPost {
		if p, err := oauth.ParseParams(r, 16<<10); err == nil {
			return p["access_token"]
		}
	}
	return ""
}

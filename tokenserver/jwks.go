package tokenserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/keys"
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
		writeError(w, newError(http.StatusServiceUnavailable, "temporarily_unavailable", "signing keys are not loaded yet"))
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
	writeError(w, newError(http.StatusMethodNotAllowed, errInvalidRequest, "method not allowed; use "+allow))
}

// serveDiscovery is OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the same
// document on both paths, advertising only what is implemented.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET")
		return
	}
	base := strings.TrimRight(s.opts.Issuer, "/")
	algs := []string{string(s.opts.IDTokenAlg)}
	doc := map[string]any{
		"issuer":                 s.opts.Issuer,
		"authorization_endpoint": base + "/oauth/authorize",
		"token_endpoint":         base + "/oauth/token",
		"jwks_uri":               base + "/.well-known/jwks.json",
		"introspection_endpoint": base + "/oauth/introspect",
		"revocation_endpoint":    base + "/oauth/revoke",
		"userinfo_endpoint":      base + "/userinfo",
		"grant_types_supported":  []string{"authorization_code", "implicit", "client_credentials", "password", "refresh_token"},
		// The implicit types are for clients that opt in (RFC 9700 §2.1.2).
		"response_types_supported":                       []string{"code", "token", "id_token", "id_token token"},
		"response_modes_supported":                       []string{"query", "fragment"},
		"code_challenge_methods_supported":               []string{pkceS256},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported": true,
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          algs,
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported":                               []string{scopeOpenID, scopeProfile, scopeEmail, scopeOfflineAccess},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
			"preferred_username", "name", "groups", "email", "email_verified"},
		"access_token_signing_alg_values_supported": []string{string(s.opts.AccessTokenAlg)},
		"userinfo_signing_alg_values_supported":     []string{"none"},
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(doc)
}

package tokenserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// discovery is the prepared metadata document: the options it is made of do
// not change while the server runs, so it is encoded once and served as
// bytes, like the JWKS.
type discovery struct {
	body []byte
	etag string
}

// newDiscovery builds the OpenID Connect Discovery 1.0 §3 / RFC 8414 §2
// document, advertising only what is implemented.
func newDiscovery(o Options) discovery {
	base := strings.TrimRight(o.Issuer, "/")
	doc := map[string]any{
		"issuer":                 o.Issuer,
		"authorization_endpoint": base + "/oauth/authorize",
		"token_endpoint":         base + "/oauth/token",
		"jwks_uri":               base + "/.well-known/jwks.json",
		"introspection_endpoint": base + "/oauth/introspect",
		"revocation_endpoint":    base + "/oauth/revoke",
		"userinfo_endpoint":      base + "/userinfo",
		"end_session_endpoint":   base + "/oauth/logout", // RP-Initiated Logout 1.0 §2.1
		"grant_types_supported": []string{"authorization_code", "implicit", "client_credentials", "password", "refresh_token",
			"urn:ietf:params:oauth:grant-type:token-exchange"},
		// The implicit types are for clients that opt in (RFC 9700 §2.1.2).
		"response_types_supported":                       []string{"code", "token", "id_token", "id_token token"},
		"response_modes_supported":                       []string{"query", "fragment"},
		"code_challenge_methods_supported":               []string{oauth.PKCES256},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"authorization_response_iss_parameter_supported": true,
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{string(o.IDTokenAlg)},
		// private_key_jwt covers both client assertions: the client's own
		// keys and a Kubernetes ServiceAccount token (RFC 7523 §2.2).
		"token_endpoint_auth_methods_supported":                    []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported":         assertionAlgNames(),
		"introspection_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"introspection_endpoint_auth_signing_alg_values_supported": assertionAlgNames(),
		"revocation_endpoint_auth_methods_supported":               []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"revocation_endpoint_auth_signing_alg_values_supported":    assertionAlgNames(),
		"scopes_supported": []string{oauth.ScopeOpenID, oauth.ScopeProfile, oauth.ScopeEmail, oauth.ScopeOfflineAccess},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
			"preferred_username", "name", "groups", "email", "email_verified"},
		"access_token_signing_alg_values_supported": []string{string(o.AccessTokenAlg)},
		"userinfo_signing_alg_values_supported":     []string{"none"},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic("discovery document: " + err.Error()) // only strings and slices: cannot fail
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	return discovery{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
}

// assertionAlgNames are the client assertion algorithms as discovery lists
// them.
func assertionAlgNames() []string {
	var names []string
	for _, a := range assertionAlgorithms() {
		names = append(names, string(a))
	}
	return names
}

// serveDiscovery is OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the same
// document on both paths.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET")
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", s.discovery.etag)
	if etagMatch(r.Header.Get("If-None-Match"), s.discovery.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(s.discovery.body)
}

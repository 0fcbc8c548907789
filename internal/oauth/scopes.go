package oauth

import (
	"slices"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// The OpenID Connect scopes (OpenID Connect Core §5.4, §11).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// IsUserScope reports whether s is one of the OpenID Connect scopes, which
// need a user.
func IsUserScope(s string) bool {
	return s == ScopeOpenID || s == ScopeProfile || s == ScopeEmail || s == ScopeOfflineAccess
}

// CheckScopes returns the scopes to grant. A request outside the client's
// scopes is invalid_scope (RFC 6749 §3.3); with none requested the client's
// scopes are granted, except the user scopes for client_credentials, which has
// no user, and offline_access, which must be asked for.
func CheckScopes(c *v1alpha1.OAuthClient, requested []string, grantType string) ([]string, error) {
	userless := grantType == string(v1alpha1.GrantClientCredentials)
	if len(requested) == 0 {
		var out []string
		for _, sc := range c.Spec.Scopes {
			if sc != ScopeOfflineAccess && !(userless && IsUserScope(sc)) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	var out []string
	for _, sc := range requested {
		if !slices.Contains(c.Spec.Scopes, sc) {
			return nil, InvalidScope("scope " + QuoteShort(sc) + " is not allowed for this client")
		}
		if userless && IsUserScope(sc) {
			return nil, InvalidScope("scope " + QuoteShort(sc) + " needs a user; client_credentials has none")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

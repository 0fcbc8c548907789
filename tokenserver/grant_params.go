package tokenserver

import (
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// grantParams are the parameters a grant reads, typed once by the endpoint
// (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6; RFC 7636 §4.5; RFC 8707 §2). A grant
// never looks at the raw form.
type grantParams struct {
	grantType string
	// scope is what the request asked for; empty means "the default".
	scope []string
	// audience is what "audience" (space-separated) and "resource" asked for.
	audience []string
	// refresh_token grant.
	refreshToken string
	// authorization_code grant; redirectURIGiven tells whether the request
	// named a redirect_uri at all (an empty one is still one).
	code, redirectURI, codeVerifier string
	redirectURIGiven                bool
	// password grant.
	username, password string
	// token exchange (RFC 8693 §2.1).
	subjectToken, subjectTokenType, actorToken, actorTokenType, requestedTokenType string
}

// newGrantParams types the parameters of a parsed request.
func newGrantParams(p oauth.Params) grantParams {
	g := grantParams{
		grantType: p["grant_type"], scope: strings.Fields(p["scope"]), audience: strings.Fields(p["audience"]),
		refreshToken: p["refresh_token"], code: p["code"], codeVerifier: p["code_verifier"],
		username: p["username"], password: p["password"],
		subjectToken: p["subject_token"], subjectTokenType: p["subject_token_type"],
		actorToken: p["actor_token"], actorTokenType: p["actor_token_type"], requestedTokenType: p["requested_token_type"],
	}
	if r := p["resource"]; r != "" {
		g.audience = append(g.audience, r)
	}
	g.redirectURI, g.redirectURIGiven = p["redirect_uri"]
	return g
}

package browser

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// authorizeRequest is a validated authorization request (RFC 6749 §4.1.1,
// §4.2.1; OpenID Connect Core §3.1.2.1).
type authorizeRequest struct {
	client *store.Client
	// redirectURI is registered; given tells whether the request named it.
	redirectURI string
	given       bool
	// code, token, idToken are the response types asked for.
	code, token, idToken bool
	// fragment: the response goes in the fragment, not the query.
	fragment  bool
	state     string
	nonce     string
	scopes    []string
	challenge string
	method    string
	prompt    []string
	// maxAge is OpenID Connect max_age in seconds; -1 when absent.
	maxAge    int64
	loginHint string
	// carried are the parameters the login and consent forms carry back
	// unchanged.
	carried url.Values
}

// carriedParams are the request parameters a login or consent form sends
// back. prompt and max_age are left out: the sign-in that the form performs
// satisfies them; but see carry for prompt=consent.
var carriedParams = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// carry picks what a form carries back from request parameters v:
// carriedParams as they are, and prompt only as "consent", which a sign-in
// does not satisfy (OpenID Connect Core §3.1.2.1: the consent page must
// still be shown).
func carry(v url.Values) url.Values {
	out := url.Values{}
	for _, k := range carriedParams {
		if x := v.Get(k); x != "" {
			out.Set(k, x)
		}
	}
	if slices.Contains(strings.Fields(v.Get("prompt")), "consent") {
		out.Set("prompt", "consent")
	}
	return out
}

// pageError is an authorization error that must not be sent to the redirect
// URI, because the client or the redirect URI is not trustworthy (RFC 6749
// §4.1.2.1): the user sees it on an error page.
type pageError struct {
	status  int
	message string
}

func (e *pageError) Error() string { return e.message }

func badPage(message string) *pageError {
	return &pageError{status: http.StatusBadRequest, message: message}
}

// parseAuthorize validates an authorization request. A *pageError means no
// redirect is possible; an *oauth.Error is for the redirect URI, and the
// returned request then carries where and how to send it.
func (s *Browser) parseAuthorize(ctx context.Context, v url.Values) (*authorizeRequest, error) {
	for k, vs := range v {
		// RFC 6749 §3.1: parameters must not be repeated.
		if len(vs) > 1 {
			return nil, badPage("The parameter " + strconv.Quote(oauth.Truncate(k)) + " is repeated.")
		}
	}
	c, err := s.dir.ClientByID(ctx, v.Get("client_id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, badPage("The application is unknown: client_id is missing or not registered.")
	}
	if err != nil {
		return nil, err
	}
	if !c.Object.HasGrant(v1alpha1.GrantAuthorizationCode) && !c.Object.HasGrant(v1alpha1.GrantImplicit) {
		return nil, badPage("This application may not sign users in through the browser.")
	}
	ar := &authorizeRequest{client: c, state: v.Get("state"), nonce: v.Get("nonce"), maxAge: -1, loginHint: v.Get("login_hint"), carried: carry(v)}
	ar.redirectURI, ar.given = v.Get("redirect_uri"), v.Has("redirect_uri")
	uris := c.Object.Spec.RedirectURIs
	switch {
	case !ar.given && len(uris) == 1:
		ar.redirectURI = uris[0]
	case !ar.given:
		return nil, badPage("The application did not say where to return (redirect_uri is missing).")
	case !slices.Contains(uris, ar.redirectURI):
		return nil, badPage("The application asked to return to an address that is not registered for it (redirect_uri).")
	}
	if oauth.CheckRedirectURI(ar.redirectURI) != nil {
		// Registered before the CRD parsed redirect URIs, it may name a
		// remote host over http (http://localhost.attacker.example/cb).
		return nil, badPage("The application's registered return address is not allowed (redirect_uri must be https, or http on a loopback address).")
	}
	// From here on, errors go to the redirect URI.
	return ar, ar.validate(v)
}

// validate checks everything but the client and the redirect URI.
func (ar *authorizeRequest) validate(v url.Values) error {
	types := strings.Fields(v.Get("response_type"))
	for _, t := range types {
		switch t {
		case "code":
			ar.code = true
		case "token":
			ar.token = true
		case "id_token":
			ar.idToken = true
		default:
			return oauth.NewError(http.StatusBadRequest, oauth.ErrUnsupportedResponseType, "response_type "+oauth.QuoteShort(v.Get("response_type"))+" is not supported")
		}
	}
	implicit := ar.token || ar.idToken
	ar.fragment = implicit
	switch mode := v.Get("response_mode"); {
	case mode == "fragment":
		ar.fragment = true
	case mode == "query" && implicit:
		// Tokens never go in a query (OAuth 2.0 Multiple Response Types §3).
		return oauth.InvalidRequest("response_mode query cannot carry tokens")
	case mode != "" && mode != "query":
		return oauth.InvalidRequest("response_mode " + oauth.QuoteShort(mode) + " is not supported")
	}
	c := ar.client.Object
	switch {
	case len(types) == 0:
		return oauth.InvalidRequest("response_type is required")
	case ar.code && implicit:
		return oauth.NewError(http.StatusBadRequest, oauth.ErrUnsupportedResponseType, "hybrid response types are not supported")
	case ar.code && !c.HasGrant(v1alpha1.GrantAuthorizationCode), implicit && !c.HasGrant(v1alpha1.GrantImplicit):
		return oauth.NewError(http.StatusBadRequest, oauth.ErrUnauthorizedClient, "the client may not use response_type "+oauth.QuoteShort(v.Get("response_type")))
	}
	var err error
	if ar.scopes, err = oauth.CheckScopes(c, strings.Fields(v.Get("scope")), string(v1alpha1.GrantAuthorizationCode)); err != nil {
		return err
	}
	if ar.idToken && !slices.Contains(ar.scopes, oauth.ScopeOpenID) {
		return oauth.InvalidScope("response_type id_token needs the openid scope")
	}
	// OpenID Connect Core §3.2.2.1: the nonce is required in the implicit
	// flow, where it is the only replay protection of the id_token.
	if ar.idToken && ar.nonce == "" {
		return oauth.InvalidRequest("nonce is required when an id_token is returned from the authorization endpoint")
	}
	if len(ar.nonce) > 512 || len(ar.state) > 2048 {
		return oauth.InvalidRequest("state or nonce is too long")
	}
	if ar.code {
		if err := ar.checkPKCE(v); err != nil {
			return err
		}
	}
	return ar.checkPrompt(v)
}

// checkPKCE: RFC 7636 §4.3; plain only for clients that allow it, and a
// challenge required of public clients (RFC 9700 §2.1.1).
func (ar *authorizeRequest) checkPKCE(v url.Values) error {
	ar.challenge, ar.method = v.Get("code_challenge"), v.Get("code_challenge_method")
	c := ar.client.Object
	if ar.challenge == "" {
		if ar.method != "" {
			return oauth.InvalidRequest("code_challenge_method without code_challenge")
		}
		if c.Spec.Public {
			return oauth.InvalidRequest("code_challenge is required (PKCE, RFC 7636) for public clients")
		}
		return nil
	}
	if ar.method == "" {
		ar.method = oauth.PKCEPlain // the RFC 7636 §4.3 default
	}
	switch {
	case ar.method == oauth.PKCES256 && len(ar.challenge) == 43 && oauth.ValidPKCEValue(ar.challenge):
	case ar.method == oauth.PKCEPlain && c.Spec.AllowPlainPKCE && oauth.ValidPKCEValue(ar.challenge):
	case ar.method == oauth.PKCEPlain && !c.Spec.AllowPlainPKCE:
		return oauth.InvalidRequest("code_challenge_method must be S256")
	case ar.method != oauth.PKCES256 && ar.method != oauth.PKCEPlain:
		return oauth.InvalidRequest("code_challenge_method " + oauth.QuoteShort(ar.method) + " is not supported; use S256")
	default:
		return oauth.InvalidRequest("code_challenge is malformed")
	}
	return nil
}

// checkPrompt: OpenID Connect Core §3.1.2.1 prompt and max_age. There is
// one account per namespace and browser, so select_account is not offered
// (nor advertised) and is answered like any unknown value.
func (ar *authorizeRequest) checkPrompt(v url.Values) error {
	ar.prompt = strings.Fields(v.Get("prompt"))
	for _, p := range ar.prompt {
		switch p {
		case "none", "login", "consent":
		default:
			return oauth.InvalidRequest("prompt " + oauth.QuoteShort(p) + " is not supported")
		}
	}
	if slices.Contains(ar.prompt, "none") && len(ar.prompt) > 1 {
		return oauth.InvalidRequest("prompt none cannot be combined with other values")
	}
	if m := v.Get("max_age"); m != "" {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 0 {
			return oauth.InvalidRequest("max_age must be a non-negative integer")
		}
		ar.maxAge = n
	}
	return nil
}

// redirect sends the authorization response (or error) to the client: in
// the query, keeping the redirect URI's own query (RFC 6749 §3.1.2), or in
// the fragment. iss is RFC 9207, against mix-up attacks.
func (s *Browser) redirect(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, values url.Values) {
	if ar.state != "" {
		values.Set("state", ar.state)
	}
	values.Set("iss", s.opts.Issuer)
	loc := ar.redirectURI
	switch {
	case ar.fragment:
		loc += "#" + values.Encode()
	case strings.Contains(loc, "?"):
		loc += "&" + values.Encode()
	default:
		loc += "?" + values.Encode()
	}
	oauth.SetNoStore(w.Header())
	w.Header().Set("Location", loc)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.WriteHeader(status)
}

// redirectError sends an RFC 6749 §4.1.2.1 / §4.2.2.1 error to the client.
func (s *Browser) redirectError(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, e *oauth.Error) {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	s.redirect(w, r, ar, v)
}

// authorizeFailed answers a failed authorization request: a page when no
// redirect is allowed, a redirect with the error otherwise, and an opaque
// page for anything unexpected.
func (s *Browser) authorizeFailed(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, err error) {
	var pe *pageError
	var oe *oauth.Error
	switch {
	case errors.As(err, &pe):
		s.errorPage(w, pe.status, pe.message)
	case errors.As(err, &oe) && ar != nil:
		s.redirectError(w, r, ar, oe)
	default:
		s.log.Error(err, "authorization request failed", "path", r.URL.Path)
		s.errorPage(w, http.StatusInternalServerError, "The server could not complete the request. Try again later.")
	}
}

// getOrPostValues reads the parameters of an endpoint that takes GET or POST
// (OpenID Connect Core §3.1.2.1, RP-Initiated Logout §2): the query, or the
// form body; any other method is answered here with 405.
func (s *Browser) getOrPostValues(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	switch r.Method {
	case http.MethodGet:
		return r.URL.Query(), true
	case http.MethodPost:
		return s.formValues(w, r)
	}
	w.Header().Set("Allow", "GET, POST")
	s.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed.")
	return nil, false
}

// formValues reads a POSTed form body within the size limit.
func (s *Browser) formValues(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The request could not be read.")
		return nil, false
	}
	return r.PostForm, true
}

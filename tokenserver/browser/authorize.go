package browser

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// serveAuthorize is the authorization endpoint (RFC 6749 §3.1), GET or POST
// (OpenID Connect Core §3.1.2.1). A browser with a usable session gets its
// answer at once; otherwise the login page.
func (s *Browser) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	v, ok := s.getOrPostValues(w, r)
	if !ok {
		return
	}
	ar, err := s.parseAuthorize(r.Context(), v)
	if err != nil {
		s.authorizeFailed(w, r, ar, err)
		return
	}
	now := s.opts.Clock.Now()
	user, authTime, err := s.sessionUser(r, ar, now)
	if err != nil {
		s.authorizeFailed(w, r, ar, err)
		return
	}
	if user != nil {
		s.authorizeUser(w, r, ar, user, authTime)
		return
	}
	if slices.Contains(ar.prompt, "none") {
		s.redirectError(w, r, ar, oauth.NewError(http.StatusBadRequest, oauth.ErrLoginRequired, "the user is not signed in"))
		return
	}
	s.loginPage(w, r, ar, "", "")
}

// clientName is the name a page shows for the client.
func clientName(c *store.Client) string {
	if c.Object.Spec.DisplayName != "" {
		return c.Object.Spec.DisplayName
	}
	return c.Object.Name
}

// hiddenFields are the carried parameters as a form's hidden fields, in a
// fixed order.
func hiddenFields(carried url.Values) []hiddenField {
	var out []hiddenField
	for _, k := range carriedParams {
		if x := carried.Get(k); x != "" {
			out = append(out, hiddenField{Name: k, Value: x})
		}
	}
	if p := carried.Get("prompt"); p != "" {
		out = append(out, hiddenField{Name: "prompt", Value: p})
	}
	return out
}

// sessionUser is the signed-in user of the browser when the session may
// answer this request: same namespace as the client, the user still exists,
// is enabled and has not changed its password since (the operator counts
// changes in status.passwordGeneration), and neither prompt=login nor
// max_age asks for a new sign-in.
func (s *Browser) sessionUser(r *http.Request, ar *authorizeRequest, now time.Time) (*store.User, time.Time, error) {
	sess := s.readSession(r, now)
	if sess == nil || sess.Namespace != ar.client.Object.Namespace || slices.Contains(ar.prompt, "login") {
		return nil, time.Time{}, nil
	}
	authTime := time.Unix(sess.AuthTime, 0)
	if ar.maxAge >= 0 && now.Sub(authTime) > time.Duration(ar.maxAge)*time.Second {
		return nil, time.Time{}, nil
	}
	u, err := s.dir.UserByUID(r.Context(), sess.Namespace, sess.UserUID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (u.Object.Spec.Disabled || u.Object.Status.PasswordGeneration != sess.PasswordGeneration)) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return u, authTime, nil
}

// serveLogin is POST /oauth/login, the login form's submission.
func (s *Browser) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	form, ok := s.formValues(w, r)
	if !ok {
		return
	}
	carried := carry(form)
	now := s.opts.Clock.Now()
	key, err := s.core.SessionKey()
	if err != nil {
		s.authorizeFailed(w, r, nil, err)
		return
	}
	nonce := s.cookieNonce(r, key, csrfCookie, now)
	if crossSiteForm(r) || !checkFormToken(key, loginPurpose, nonce, carried.Encode(), form.Get("csrf_token"), now) {
		s.errorPage(w, http.StatusForbidden, "This sign-in form has expired or was not sent from this browser. Go back to the application and sign in again.")
		return
	}
	ar, err := s.parseAuthorize(r.Context(), carried)
	if err != nil {
		s.authorizeFailed(w, r, ar, err)
		return
	}
	username, pw := form.Get("username"), form.Get("password")
	if username == "" || pw == "" {
		s.loginPage(w, r, ar, username, "Enter your username and password.")
		return
	}
	user, err := s.core.AuthenticateUser(r.Context(), ar.client.Object.Namespace, username, pw, oauth.SourceAddr(r))
	var oe *oauth.Error
	if errors.As(err, &oe) {
		s.loginPage(w, r, ar, username, loginMessage(oe))
		return
	}
	if err != nil {
		s.authorizeFailed(w, r, ar, err)
		return
	}
	authTime := now.Truncate(time.Second)
	sess := session{Namespace: user.Object.Namespace, UserUID: user.Object.UID, AuthTime: authTime.Unix(), Expires: now.Add(sessionTTL).Unix(),
		PasswordGeneration: user.Object.Status.PasswordGeneration}
	if err := s.writeSession(w, sess); err != nil {
		s.authorizeFailed(w, r, ar, err)
		return
	}
	s.clearCookie(w, csrfCookie)
	s.authorizeUser(w, r, ar, user, authTime)
}

// loginMessage is what the login page says about a failed sign-in: the
// same for an unknown user and a wrong password.
func loginMessage(e *oauth.Error) string {
	d := e.Description
	if d == "" || d == "the username or password is wrong" {
		return "The username or password is incorrect."
	}
	return strings.ToUpper(d[:1]) + d[1:] + "."
}

// loginPage renders the form with a CSRF token bound to this browser's
// login nonce (issueFormNonce: kept while authentic, so two open tabs both
// work) and to the request.
func (s *Browser) loginPage(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, username, message string) {
	key, err := s.core.SessionKey()
	if err != nil {
		s.authorizeFailed(w, r, nil, err)
		return
	}
	now := s.opts.Clock.Now()
	nonce := s.issueFormNonce(w, r, key, csrfCookie, loginFormTTL, now)
	if username == "" {
		username = ar.loginHint
	}
	d := loginData{ClientName: clientName(ar.client), Username: username, Error: message, CSRF: formToken(key, loginPurpose, nonce, ar.carried.Encode(), now.Add(loginFormTTL))}
	d.Hidden = hiddenFields(ar.carried)
	s.renderPage(w, http.StatusOK, loginTemplate, d, redirectOrigin(ar.redirectURI))
}

// complete answers an authorization request for a signed-in user: a code
// (RFC 6749 §4.1.2) or, for implicit, tokens in the fragment (§4.2.2).
func (s *Browser) complete(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, user *store.User, authTime time.Time) {
	var v url.Values
	var err error
	if ar.code {
		v, err = s.issueCode(r.Context(), ar, user, authTime)
	} else {
		v, err = s.issueImplicit(r.Context(), r, ar, user, authTime)
	}
	if err != nil {
		s.authorizeFailed(w, r, ar, err)
		return
	}
	s.redirect(w, r, ar, v)
}

func (s *Browser) issueCode(ctx context.Context, ar *authorizeRequest, user *store.User, authTime time.Time) (url.Values, error) {
	c := ar.client.Object
	// The code is bound to what consent showed: its tokens never carry
	// another audience or scope.
	auds, scopes, err := s.core.Target(ctx, ar.client, ar.scopes)
	if err != nil {
		return nil, err
	}
	rec := &store.AuthCode{
		ClientUID: c.UID, UserUID: user.Object.UID, RedirectURI: ar.redirectURI, RedirectURIGiven: ar.given,
		Scopes: scopes, Audience: auds, Nonce: ar.nonce, Challenge: ar.challenge, ChallengeMethod: ar.method,
		AuthTime: authTime.UTC(), ExpiresAt: s.opts.Clock.Now().Add(CodeTTL).UTC(),
	}
	code, err := s.core.IssueCode(ctx, ar.client, user, rec)
	if err != nil {
		return nil, err
	}
	return url.Values{"code": {code}}, nil
}

// issueImplicit answers the implicit flow, which RFC 9700 §2.1.2 deprecates;
// it is opt-in per client. Never a refresh token (RFC 6749 §4.2.2); an
// id_token returned with an access token carries at_hash.
func (s *Browser) issueImplicit(ctx context.Context, r *http.Request, ar *authorizeRequest, user *store.User, authTime time.Time) (url.Values, error) {
	res, err := s.core.IssueImplicit(ctx, ar.client, user, ImplicitRequest{
		Scopes: ar.scopes, Nonce: ar.nonce, AuthTime: authTime, AccessToken: ar.token, IDToken: ar.idToken, Source: oauth.SourceAddr(r),
	})
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	if ar.token {
		v.Set("access_token", res.AccessToken)
		v.Set("token_type", "Bearer")
		v.Set("expires_in", strconv.FormatInt(int64(res.ExpiresIn/time.Second), 10))
		if res.Scope != "" {
			v.Set("scope", res.Scope)
		}
	}
	if ar.idToken {
		v.Set("id_token", res.IDToken)
	}
	return v, nil
}

// redirectOrigin is the origin of a redirect URI, for the login page's
// form-action: browsers apply form-action to the redirect that follows the
// form's submission too.
func redirectOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

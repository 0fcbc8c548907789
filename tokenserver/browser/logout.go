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

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). The session
// is a cookie and nothing else, so ending it is clearing the cookie in this
// browser. The browser returns to the client only to a
// post_logout_redirect_uri registered on the client the id_token_hint was
// issued to (§3: never without the hint). Without a hint naming the
// signed-in user, the user is asked first (§2: a link on any page could
// otherwise sign them out).

const (
	logoutCookie = "tw_logout"
	// logoutFormTTL bounds how long a rendered sign-out form can be
	// submitted.
	logoutFormTTL = 10 * time.Minute
	// logoutPurpose is the MAC purpose of sign-out form tokens.
	logoutPurpose = "logout"
)

// logoutParams are the request parameters (§2) a sign-out form carries back.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}

// logoutRequest is a validated logout request.
type logoutRequest struct {
	hint *IDTokenHint
	// redirectURI is where to return, "" when the request named none or
	// one that may not be followed (unfollowed tells which).
	redirectURI string
	unfollowed  bool
	state       string
	carried     url.Values
}

// serveLogout is the end_session_endpoint, GET or POST (§2).
func (s *Browser) serveLogout(w http.ResponseWriter, r *http.Request) {
	v, ok := s.getOrPostValues(w, r)
	if !ok {
		return
	}
	lr, err := s.parseLogout(r.Context(), v)
	if err != nil {
		s.authorizeFailed(w, r, nil, err)
		return
	}
	now := s.opts.Clock.Now()
	key, err := s.core.SessionKey()
	if err != nil {
		s.authorizeFailed(w, r, nil, err)
		return
	}
	if sess := s.readSession(r, now); sess != nil && !lr.names(sess) {
		switch {
		case v.Get("csrf_token") == "":
			s.logoutPage(w, r, key, lr, now)
			return
		case crossSiteForm(r) || !checkFormToken(key, logoutPurpose, s.cookieNonce(r, key, logoutCookie, now), lr.carried.Encode(), v.Get("csrf_token"), now):
			s.errorPage(w, http.StatusForbidden, "This sign-out form has expired or was not sent from this browser.")
			return
		}
	}
	s.clearCookie(w, sessionCookie)
	s.clearCookie(w, logoutCookie)
	s.signedOut(w, r, lr)
}

// parseLogout validates a logout request. A hint must verify; a client_id
// beside it must be its audience (§2). A post_logout_redirect_uri not
// registered on the hint's client is not followed, and the user is told.
func (s *Browser) parseLogout(ctx context.Context, v url.Values) (*logoutRequest, error) {
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, badPage("The parameter " + strconv.Quote(oauth.Truncate(k)) + " is repeated.")
		}
	}
	lr := &logoutRequest{state: v.Get("state"), carried: url.Values{}}
	for _, k := range logoutParams {
		if x := v.Get(k); x != "" {
			lr.carried.Set(k, x)
		}
	}
	if h := v.Get("id_token_hint"); h != "" {
		var err error
		if lr.hint, err = s.core.VerifyIDTokenHint(h); err != nil {
			return nil, badPage("The sign-out request is not valid: its id_token_hint was not issued by this server.")
		}
		if id := v.Get("client_id"); id != "" && id != lr.hint.ClientID {
			return nil, badPage("The sign-out request is not valid: client_id is not the client its id_token_hint was issued to.")
		}
	}
	if uri := v.Get("post_logout_redirect_uri"); uri != "" {
		ok, err := s.mayReturnTo(ctx, lr.hint, uri)
		if err != nil {
			return nil, err
		}
		lr.redirectURI, lr.unfollowed = uri, !ok
		if !ok {
			lr.redirectURI = ""
		}
	}
	return lr, nil
}

// mayReturnTo reports whether uri is a post-logout redirect URI registered
// on the client hint was issued to, in the hint's namespace, and allowed as
// a redirect URI at all (a URI stored before the CRD parsed them).
func (s *Browser) mayReturnTo(ctx context.Context, hint *IDTokenHint, uri string) (bool, error) {
	if hint == nil {
		return false, nil
	}
	c, err := s.dir.ClientByID(ctx, hint.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Object.Namespace == hint.Namespace && slices.Contains(c.Object.Spec.PostLogoutRedirectURIs, uri) &&
		oauth.CheckRedirectURI(uri) == nil, nil
}

// names reports whether the request's hint names the session's user.
func (lr *logoutRequest) names(sess *session) bool {
	return lr.hint != nil && lr.hint.Namespace == sess.Namespace && lr.hint.Subject == sess.UserUID
}

// logoutPage asks the signed-in user whether to sign out, with a token bound
// to this browser's logout nonce and to the request.
func (s *Browser) logoutPage(w http.ResponseWriter, r *http.Request, key []byte, lr *logoutRequest, now time.Time) {
	nonce := s.issueFormNonce(w, r, key, logoutCookie, logoutFormTTL, now)
	d := logoutData{CSRF: formToken(key, logoutPurpose, nonce, lr.carried.Encode(), now.Add(logoutFormTTL))}
	for _, k := range logoutParams {
		if x := lr.carried.Get(k); x != "" {
			d.Hidden = append(d.Hidden, hiddenField{Name: k, Value: x})
		}
	}
	s.renderPage(w, http.StatusOK, logoutTemplate, d, redirectOrigin(lr.redirectURI))
}

// signedOut returns the browser to the client with state (§3), or shows
// that the user is signed out.
func (s *Browser) signedOut(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	if lr.redirectURI == "" {
		s.renderPage(w, http.StatusOK, signedOutTemplate, signedOutData{Unfollowed: lr.unfollowed}, "")
		return
	}
	loc := lr.redirectURI
	if lr.state != "" {
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		loc += sep + url.Values{"state": {lr.state}}.Encode()
	}
	oauth.SetNoStore(w.Header())
	w.Header().Set("Location", loc)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.WriteHeader(status)
}

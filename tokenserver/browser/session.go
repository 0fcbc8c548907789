package browser

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The browser state of the login page: a session cookie that lets a signed-in
// user authorize again without retyping, and a CSRF cookie that binds the
// login form to the browser it was shown to.
//
// Both are MACed with the session key of the core (Core.SessionKey), derived
// from the active signing key: every replica holds it already, so they all
// accept each other's cookies without any extra state in the cluster. When the
// signing key rotates, sessions and pending login forms end: the user signs in
// once more, which for a session of at most an hour is an acceptable price for
// no extra secret to manage.
const (
	sessionTTL = time.Hour
	// loginFormTTL bounds how long a rendered login form can be submitted.
	loginFormTTL = 15 * time.Minute
)

// mac is HMAC-SHA-256 over length-prefixed parts, the first naming the
// purpose, so a value MACed for one use never verifies for another.
func mac(key []byte, purpose string, parts ...string) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range append([]string{purpose}, parts...) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// session is the signed-in state of a browser: one user of one namespace.
type session struct {
	Namespace string    `json:"ns"`
	UserUID   types.UID `json:"uid"`
	AuthTime  int64     `json:"at"`
	Expires   int64     `json:"exp"`
}

// cookieName: the __Host- prefix (RFC 6265bis §4.1.3.2) pins the cookie to
// this origin when it can be Secure.
func (s *Browser) cookieName(base string) string {
	if s.secureCookies() {
		return "__Host-" + base
	}
	return base
}

func (s *Browser) secureCookies() bool { return strings.HasPrefix(s.opts.Issuer, "https://") }

func (s *Browser) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(base), Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Browser) clearCookie(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

const (
	sessionCookie = "tw_session"
	csrfCookie    = "tw_login"
)

// writeSession sets the session cookie for a user who just signed in.
func (s *Browser) writeSession(w http.ResponseWriter, sess session) error {
	key, err := s.core.SessionKey()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	payload := base64.RawURLEncoding.EncodeToString(raw)
	sig := base64.RawURLEncoding.EncodeToString(mac(key, "session", payload))
	s.setCookie(w, sessionCookie, payload+"."+sig, sessionTTL)
	return nil
}

// readSession returns the browser's session when its cookie is present,
// authentic and not expired; nil otherwise.
func (s *Browser) readSession(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	key, err := s.core.SessionKey()
	if err != nil {
		return nil
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(key, "session", payload)) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var sess session
	if json.Unmarshal(raw, &sess) != nil || now.Unix() >= sess.Expires {
		return nil
	}
	return &sess
}

// csrfToken binds a login form to the browser's CSRF cookie and to the
// authorize request the form carries, until expires: a form cannot be
// submitted from another browser (login CSRF), nor with its hidden fields
// changed.
func csrfToken(key []byte, cookie, request string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(mac(key, "csrf", cookie, request, exp))
}

// checkCSRF verifies a submitted token against the cookie and the request.
func checkCSRF(key []byte, cookie, request, token string, now time.Time) bool {
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || cookie == "" {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= t {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, mac(key, "csrf", cookie, request, exp))
}

// consentToken binds a consent form to the browser's consent cookie, the
// signed-in user, the authorize request and what the page showed, until
// expires: a form cannot be submitted from another browser, for another
// user, with its hidden fields changed, nor once the tokens would carry more
// than the user saw. Its purpose differs from the login form's, so neither
// token verifies as the other.
func consentToken(key []byte, cookie string, user types.UID, request string, ask *consentAsk, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(consentMAC(key, cookie, user, request, ask, exp))
}

// checkConsentToken verifies a submitted consent token.
func checkConsentToken(key []byte, cookie string, user types.UID, request string, ask *consentAsk, token string, now time.Time) bool {
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || cookie == "" || ask == nil {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !now.Before(time.Unix(t, 0)) {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, consentMAC(key, cookie, user, request, ask, exp))
}

func consentMAC(key []byte, cookie string, user types.UID, request string, ask *consentAsk, exp string) []byte {
	return mac(key, "consent", cookie, string(user), request, strings.Join(ask.audiences, " "), strings.Join(ask.scopes, " "), exp)
}

package browser

import (
	"crypto/hmac"
	"crypto/rand"
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
	// PasswordGeneration is the user's status.passwordGeneration at
	// sign-in: a password change since ends the session.
	PasswordGeneration int64 `json:"pg,omitempty"`
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
	// loginPurpose is the MAC purpose of login form tokens.
	loginPurpose = "csrf"
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

// Every form (login, consent, logout) is bound to a nonce the server issued
// to this browser in a cookie. The cookie holds the nonce, an expiry and a
// MAC of both under the session key, so a value the browser was handed by
// someone else is never a nonce: with an http issuer the cookies have no
// __Host- prefix, and a same-site host can plant one (login CSRF). An
// authentic nonce is kept while it lasts, so two open tabs both work. A
// nonce the attacker obtained from the server for their own browser and
// planted is refused by the fetch metadata check (crossSiteForm).

// formNonceMAC is the MAC of a form cookie of base holding nonce until exp.
func formNonceMAC(key []byte, base, nonce, exp string) []byte {
	return mac(key, "form-nonce", base, nonce, exp)
}

// cookieNonce returns the nonce of the browser's base cookie when the server
// issued it and it has not expired, "" otherwise.
func (s *Browser) cookieNonce(r *http.Request, key []byte, base string, now time.Time) string {
	c, err := r.Cookie(s.cookieName(base))
	if err != nil {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 || parts[0] == "" {
		return ""
	}
	t, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() >= t {
		return ""
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(got, formNonceMAC(key, base, parts[0], parts[1])) {
		return ""
	}
	return parts[0]
}

// issueFormNonce returns the nonce of a form shown now: the browser's own
// while it is authentic, a fresh one otherwise. The cookie is set again for
// ttl either way, so the form can be submitted for that long.
func (s *Browser) issueFormNonce(w http.ResponseWriter, r *http.Request, key []byte, base string, ttl time.Duration, now time.Time) string {
	nonce := s.cookieNonce(r, key, base, now)
	if nonce == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		nonce = base64.RawURLEncoding.EncodeToString(b)
	}
	exp := strconv.FormatInt(now.Add(ttl).Unix(), 10)
	s.setCookie(w, base, nonce+"."+exp+"."+base64.RawURLEncoding.EncodeToString(formNonceMAC(key, base, nonce, exp)), ttl)
	return nonce
}

// crossSiteForm reports a form submission the browser says came from
// another site or a sibling host (Fetch Metadata, Sec-Fetch-Site): every
// form of these pages is submitted from the page itself, same-origin. A
// nonce cookie someone obtained for their own browser and planted in the
// victim's is refused by this, as browsers send the header on every request.
func crossSiteForm(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "cross-site" || site == "same-site"
}

// formToken binds a form of purpose to the browser's form nonce and to the
// request the form carries, until expires: a form cannot be submitted from
// another browser (CSRF), nor with its hidden fields changed.
func formToken(key []byte, purpose, nonce, request string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(mac(key, purpose, nonce, request, exp))
}

// checkFormToken verifies a submitted token against the nonce and the
// request.
func checkFormToken(key []byte, purpose, nonce, request, token string, now time.Time) bool {
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || nonce == "" {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= t {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, mac(key, purpose, nonce, request, exp))
}

// consentToken binds a consent form to the browser's consent nonce, the
// signed-in user, the authorize request and what the page showed, until
// expires: a form cannot be submitted from another browser, for another
// user, with its hidden fields changed, nor once the tokens would carry more
// than the user saw. Its purpose differs from the login form's, so neither
// token verifies as the other.
func consentToken(key []byte, nonce string, user types.UID, request string, ask *consentAsk, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(consentMAC(key, nonce, user, request, ask, exp))
}

// checkConsentToken verifies a submitted consent token.
func checkConsentToken(key []byte, nonce string, user types.UID, request string, ask *consentAsk, token string, now time.Time) bool {
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || nonce == "" || ask == nil {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !now.Before(time.Unix(t, 0)) {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, consentMAC(key, nonce, user, request, ask, exp))
}

func consentMAC(key []byte, nonce string, user types.UID, request string, ask *consentAsk, exp string) []byte {
	return mac(key, "consent", nonce, string(user), request, strings.Join(ask.audiences, " "), strings.Join(ask.scopes, " "), exp)
}

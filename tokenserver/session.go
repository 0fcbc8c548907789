package tokenserver

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The browser state of the login page: a session cookie that lets a signed-in
// user authorize again without retyping, and a CSRF cookie that binds the
// login form to the browser it was shown to.
//
// Both are MACed with a key derived (HKDF-SHA-256) from the private key of
// the active id_token signing key. Every replica holds that key already, so
// they all accept each other's cookies without any extra state in the
// cluster; the derivation is one-way, so the MAC key reveals nothing of the
// signing key. When the signing key rotates, sessions and pending login forms
// end: the user signs in once more, which for a session of at most an hour
// is an acceptable price for no extra secret to manage.
const (
	sessionTTL = time.Hour
	// loginFormTTL bounds how long a rendered login form can be submitted.
	loginFormTTL = 15 * time.Minute
	macInfo      = "tokenwarden browser session v1"
)

// macKeyCache holds the derived key of one signing key (by kid), so a request
// does not pay a key encoding and derivation.
type macKeyCache struct {
	cur atomic.Pointer[derivedKey]
}

type derivedKey struct {
	kid string
	key []byte
}

var errNoMACKey = errors.New("no signing key to derive the session key from")

// macKey returns the current session MAC key.
func (s *Server) macKey() ([]byte, error) {
	set := s.keys.Current()
	if set == nil {
		return nil, errNoMACKey
	}
	sg, ok := set.Signing(s.opts.IDTokenAlg)
	if !ok {
		if sg, ok = set.Signing(s.opts.AccessTokenAlg); !ok {
			return nil, errNoMACKey
		}
	}
	if d := s.macKeys.cur.Load(); d != nil && d.kid == sg.KID {
		return d.key, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(sg.Key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key for session key: %w", err)
	}
	k, err := hkdf.Key(sha256.New, der, []byte(sg.KID), macInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive session key: %w", err)
	}
	s.macKeys.cur.Store(&derivedKey{kid: sg.KID, key: k})
	return k, nil
}

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
func (s *Server) cookieName(base string) string {
	if s.secureCookies() {
		return "__Host-" + base
	}
	return base
}

func (s *Server) secureCookies() bool { return strings.HasPrefix(s.opts.Issuer, "https://") }

func (s *Server) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(base), Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, base string) {
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
func (s *Server) writeSession(w http.ResponseWriter, sess session) error {
	key, err := s.macKey()
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
func (s *Server) readSession(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	key, err := s.macKey()
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

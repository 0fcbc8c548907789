// Package browser is the token server's browser flow: the authorization
// endpoint (RFC 6749 §3.1, OpenID Connect Core §3.1.2), the login page, the
// signed-in session and the pages a person sees. It issues nothing itself:
// codes, implicit tokens, password checks, what a token would carry and the
// session key come from the token server through Core, so a browser sign-in
// obeys the same throttles and grant rules as the token endpoint. A user
// consents to a client once per set of scopes and audiences (consent.go).
package browser

import (
	"context"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// CodeTTL is the lifetime of an authorization code; RFC 6749 §4.1.2
// recommends at most ten minutes, and a browser redirect followed by one
// back-channel call needs seconds.
const CodeTTL = 60 * time.Second

// Core is what the browser flow needs of the token server.
type Core interface {
	// AuthenticateUser checks a username and password of the namespace,
	// throttled like the password grant; a refusal is an *oauth.Error.
	AuthenticateUser(ctx context.Context, namespace, username, password, source string) (*store.User, error)
	// IssueCode stores the code record for user and returns the code.
	IssueCode(ctx context.Context, c *store.Client, user *store.User, rec *store.AuthCode) (string, error)
	// IssueImplicit mints the tokens of the implicit flow.
	IssueImplicit(ctx context.Context, c *store.Client, user *store.User, r ImplicitRequest) (*Implicit, error)
	// Target is what a token for the client would carry without an
	// explicit audience: its granted audiences, and the scopes of scopes
	// they allow. The consent page shows it and a consent records it.
	Target(ctx context.Context, c *store.Client, scopes []string) (audiences, granted []string, err error)
	// SessionKey is the current key of session and CSRF MACs.
	SessionKey() ([]byte, error)
	// VerifyIDTokenHint verifies an id_token this server issued (issuer,
	// keys, id_token type), expired or not, and says whom and to which
	// client it was issued.
	VerifyIDTokenHint(hint string) (*IDTokenHint, error)
}

// IDTokenHint is what a verified id_token_hint of a logout request says
// (OpenID Connect RP-Initiated Logout 1.0 §2).
type IDTokenHint struct {
	// ClientID is the aud: the client the id_token was issued to.
	ClientID string
	// Namespace and Subject name the user.
	Namespace string
	Subject   types.UID
}

// ImplicitRequest is an implicit-flow issuance for a signed-in user.
type ImplicitRequest struct {
	Scopes   []string
	Nonce    string
	AuthTime time.Time
	// AccessToken and IDToken are the response types asked for.
	AccessToken, IDToken bool
	Source               string
}

// Implicit is what the implicit flow returns in the fragment.
type Implicit struct {
	AccessToken string
	ExpiresIn   time.Duration
	Scope       string
	IDToken     string
}

// Options configure the browser flow; the token server passes its own.
type Options struct {
	// Issuer is the iss of responses (RFC 9207) and decides whether cookies
	// can be Secure and __Host- prefixed.
	Issuer       string
	MaxBodyBytes int64
	Clock        clock.PassiveClock
	Log          logr.Logger
}

// Browser serves the authorization endpoint, the login form, the consent
// form and the logout endpoint.
type Browser struct {
	opts     Options
	dir      store.Directory
	consents store.Records[store.Consent]
	core     Core
	log      logr.Logger
}

// New builds the browser flow over the directory, the remembered consents
// and the token server's core.
func New(o Options, dir store.Directory, consents store.Records[store.Consent], core Core) *Browser {
	return &Browser{opts: o, dir: dir, consents: consents, core: core, log: o.Log.WithName("browser")}
}

// Register adds the browser endpoints to mux.
func (s *Browser) Register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth/authorize", s.serveAuthorize)
	mux.HandleFunc("/oauth/login", s.serveLogin)
	mux.HandleFunc("/oauth/consent", s.serveConsent)
	mux.HandleFunc("/oauth/logout", s.serveLogout)
}

package tokenserver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/password"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
	"github.com/tokenwarden/tokenwarden/tokenserver/browser"
)

// KeySource gives the current signing keys; it changes when the keys rotate.
type KeySource interface {
	Current() *keys.Set
}

// Server is the token server. Build it with New; it is a manager Runnable.
type Server struct {
	opts        Options
	dir         store.Directory
	families    store.Records[store.Family]
	codes       store.Records[store.AuthCode]
	consents    store.Records[store.Consent]
	revoked     store.Revocations
	keys        KeySource
	sessionKeys derivedKeys
	stampKeys   derivedKeys
	discovery   discovery
	throttle    *throttle.Throttle
	passwords   *password.Cache
	grants      map[v1alpha1.GrantType]grant
	metrics     *metrics
	reviews     *reviewCache
	clientKeys  *clientKeySets
	jtis        *jtiRecord
	log         logr.Logger
	handler     http.Handler
	// paths are the parsed --token-path-alias entries.
	paths []contract.TokenPath
}

// New builds a server over the stores from options that start from
// DefaultOptions.
func New(o Options, st store.Stores, ks KeySource) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("token server options: %w", err)
	}
	if st.Directory == nil || st.Families == nil || st.Codes == nil || st.Consents == nil || st.Revocations == nil {
		return nil, errors.New("token server: a store is missing")
	}
	s := &Server{
		opts: o, keys: ks, log: o.Log.WithName("tokenserver"),
		dir: st.Directory, families: st.Families, codes: st.Codes, consents: st.Consents, revoked: st.Revocations,
		throttle:    throttle.NewThrottle(o.UserThrottle, o.SourceThrottle, o.Clock.Now),
		passwords:   password.NewCache(10000, 10*time.Minute, o.Clock.Now, password.WithLimiter(password.NewLimiter(o.HashConcurrency))),
		metrics:     defaultMetrics,
		sessionKeys: derivedKeys{info: sessionKeyInfo},
		stampKeys:   derivedKeys{info: stampKeyInfo},
		clientKeys:  newClientKeySets(1000), jtis: newJTIRecord(maxRecordedJTIs),
	}
	if st.Reviewer != nil {
		s.reviews = newReviewCache(o, st.Reviewer, s.metrics, s.log)
	}
	s.grants = map[v1alpha1.GrantType]grant{
		v1alpha1.GrantClientCredentials: clientCredentialsGrant{s},
		v1alpha1.GrantPassword:          passwordGrant{s},
		v1alpha1.GrantRefreshToken:      refreshTokenGrant{s},
		v1alpha1.GrantAuthorizationCode: authorizationCodeGrant{s},
		v1alpha1.GrantTokenExchange:     tokenExchangeGrant{s},
	}
	s.discovery = newDiscovery(o)
	var err error
	if s.paths, err = validateTokenPaths(o.TokenPathAliases); err != nil {
		return nil, fmt.Errorf("token server options: %w", err)
	}
	if s.handler, err = s.checkedRoutes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler is the HTTP handler (tests serve it with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.tokenRoutes(mux)
	mux.Handle("/clients/{namespace}/{name}/token", s.serveToken(route{path: contract.TokenPath{Path: "/clients/{namespace}/{name}/token", Template: true}}))
	browser.New(browser.Options{Issuer: s.opts.Issuer, MaxBodyBytes: s.opts.MaxBodyBytes, Clock: s.opts.Clock, Log: s.log}, s.dir, s.consents, s).Register(mux)
	mux.HandleFunc("/oauth/introspect", s.serveIntrospect)
	mux.HandleFunc("/oauth/revoke", s.serveRevoke)
	mux.HandleFunc("/userinfo", s.serveUserinfo)
	mux.HandleFunc("/.well-known/jwks.json", s.serveJWKS)
	mux.HandleFunc("/.well-known/openid-configuration", s.serveDiscovery)
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.serveDiscovery)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	// The source is resolved once, in front of every endpoint, so each
	// throttle keys on the same address (oauth.SourceAddr).
	return recoverer(s.log, oauth.Sources(s.opts.TrustedProxies, mux))
}

// fail writes err; unexpected errors are logged (they never hold a secret:
// no error built here includes a credential) and answered opaquely. A store
// that cannot be reached (the API server is down) decided nothing: that is
// 503 temporarily_unavailable with Retry-After, so clients retry instead of
// giving up on a refresh token that still works.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	oauth.WriteError(w, s.failure(r, err))
}

// failure is the answer to a request that failed with err: an OAuth error
// as it is; anything else is logged, and answered 503
// temporarily_unavailable when the state store cannot be reached, else
// server_error.
func (s *Server) failure(r *http.Request, err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return err
	}
	s.log.Error(err, "request failed", "path", r.URL.Path)
	if errors.Is(err, store.ErrUnavailable) {
		return oauth.NewError(http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable, "the server cannot reach its state store; retry shortly")
	}
	return err
}

// recoverer turns a panic into a server_error instead of a dropped connection;
// it is a last resort, and every panic is a bug that the log reports.
func recoverer(log logr.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error(nil, "panic serving request", "path", r.URL.Path, "panic", v)
				oauth.WriteError(w, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

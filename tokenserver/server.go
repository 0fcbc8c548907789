// Package tokenserver is Tokenwarden's OAuth 2.0 / OpenID Connect server. It
// runs on every replica (it is not leader-elected) and answers from the
// manager's informer cache.
package tokenserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/password"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
)

// Options configure the token server. DefaultOptions is the one place that
// holds their defaults; flags and tests start from it and change fields.
type Options struct {
	// Addr is the listen address, e.g. ":8443" or "127.0.0.1:0".
	Addr string
	// Issuer is the issuer URL exactly as it appears in iss and discovery.
	Issuer string
	// TLSCertFile and TLSKeyFile enable TLS; the files are re-read when they
	// change, so a rotated certificate needs no restart.
	TLSCertFile, TLSKeyFile string
	// TokenPathAliases are extra paths answering like /oauth/token, for
	// clients built against other servers: "PATH[;option=value...]", where
	// PATH may be a template naming the client with {namespace} and {name}
	// (contract.ParseTokenPath has the options).
	TokenPathAliases []string
	// DefaultClient identifies the client of a request on an alias path that
	// names none (some legacy password-grant clients send no client_id),
	// unless an OAuthClient holds that path as its own default.
	DefaultClient *types.NamespacedName
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	// RefreshGrace is how long a just-superseded refresh token is still
	// accepted, for honest retries of a request whose answer was lost; zero
	// turns the window off.
	RefreshGrace time.Duration
	// AccessTokenAlg signs access tokens; IDTokenAlg signs id_tokens.
	AccessTokenAlg, IDTokenAlg keys.Algorithm
	// UserThrottle and SourceThrottle limit failed sign-ins per user and per
	// source address.
	UserThrottle, SourceThrottle throttle.Config
	// TrustedProxies are the proxies whose Forwarded and X-Forwarded-For
	// headers name the client (oauth.ResolveSource); from any other peer the
	// TCP peer is the source the throttles key on. Empty trusts none.
	TrustedProxies oauth.TrustedProxies
	// HashConcurrency bounds the password-hash verifications running at
	// once in this process (each may hold 64 MiB for argon2id); a sign-in
	// beyond it is answered 503 temporarily_unavailable at once.
	HashConcurrency int
	// MaxFamiliesPerUser caps the live refresh-token families of one user
	// with one client; a grant that would start one more is refused
	// (limits.go).
	MaxFamiliesPerUser int
	// MaxRevocationsPerClient caps the revoked access tokens of one client
	// on record; a revocation beyond it is answered 503 (limits.go).
	MaxRevocationsPerClient int
	// ServiceAccountAudiences are the audiences a ServiceAccount token
	// must be for to authenticate a client (every aud of the token must be
	// one of them, so a token also valid at the API server is refused);
	// empty means the issuer URL alone.
	ServiceAccountAudiences []string
	// ServiceAccountReviewTTL bounds how long a positive TokenReview is
	// reused (never beyond the token's own exp): a deleted ServiceAccount
	// or pod stops authenticating within it. Zero reviews every request.
	ServiceAccountReviewTTL time.Duration
	// ServiceAccountReviewCacheSize bounds the reviews kept per replica.
	ServiceAccountReviewCacheSize int
	// ServiceAccountReviewConcurrency bounds the TokenReview calls in
	// flight per replica; a request beyond it waits up to a second, then is
	// answered 503 temporarily_unavailable.
	ServiceAccountReviewConcurrency int
	// Clock is injected by tests.
	Clock clock.PassiveClock
	// Log receives unexpected errors (never a secret).
	Log logr.Logger
	// Listener, when set, is used instead of listening on Addr (tests).
	Listener net.Listener
	// Ready, when set, receives the listen address once the server listens
	// (tests, demo).
	Ready chan<- string
}

// DefaultOptions are the defaults: 64 KiB bodies, a 10 s refresh grace,
// ES256 access tokens and RS256 id_tokens (the OpenID Connect default), the
// default sign-in throttles, and ServiceAccount token reviews reused for at
// most 5 minutes.
func DefaultOptions() Options {
	return Options{
		Addr: ":8443", MaxBodyBytes: 64 << 10, RefreshGrace: 10 * time.Second,
		AccessTokenAlg: keys.ES256, IDTokenAlg: keys.RS256,
		UserThrottle: throttle.DefaultUserConfig(), SourceThrottle: throttle.DefaultSourceConfig(),
		HashConcurrency:    password.DefaultConcurrency(),
		MaxFamiliesPerUser: 100, MaxRevocationsPerClient: 1000,
		ServiceAccountReviewTTL: 5 * time.Minute, ServiceAccountReviewCacheSize: 10000, ServiceAccountReviewConcurrency: 16,
		Clock: clock.RealClock{}, Log: logr.Discard(),
	}
}

// Validate reports options the server cannot run with.
func (o *Options) Validate() error {
	u, err := url.Parse(o.Issuer)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("issuer %q must be an absolute http(s) URL without query or fragment", o.Issuer)
	case o.MaxBodyBytes < 1<<10:
		return fmt.Errorf("max body size %d is below 1 KiB", o.MaxBodyBytes)
	case o.RefreshGrace < 0:
		return fmt.Errorf("refresh grace %s is negative", o.RefreshGrace)
	case o.AccessTokenAlg == "" || o.IDTokenAlg == "":
		return errors.New("token signing algorithms are not set")
	case o.UserThrottle.MaxFailures < 1 || o.SourceThrottle.MaxFailures < 1 || o.UserThrottle.Window <= 0 || o.SourceThrottle.Window <= 0:
		return errors.New("sign-in throttles need at least one failure and a positive window")
	case o.HashConcurrency < 1:
		return fmt.Errorf("hash concurrency %d must be at least 1", o.HashConcurrency)
	case o.MaxFamiliesPerUser < 1 || o.MaxRevocationsPerClient < 1:
		return fmt.Errorf("the caps on refresh families per user (%d) and revocations per client (%d) must be at least 1", o.MaxFamiliesPerUser, o.MaxRevocationsPerClient)
	case o.ServiceAccountReviewTTL < 0 || o.ServiceAccountReviewCacheSize < 1 || o.ServiceAccountReviewConcurrency < 1:
		return fmt.Errorf("service account review TTL %s must not be negative, its cache size (%d) and concurrency (%d) at least 1",
			o.ServiceAccountReviewTTL, o.ServiceAccountReviewCacheSize, o.ServiceAccountReviewConcurrency)
	case o.Clock == nil:
		return errors.New("no clock")
	case o.TLSCertFile != "" && o.TLSKeyFile == "", o.TLSCertFile == "" && o.TLSKeyFile != "":
		return errors.New("a TLS certificate needs its key and a key its certificate")
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() || p.Bits() == 0 {
			// A /0 would let every client name its own source address.
			return fmt.Errorf("trusted proxy range %s must be a valid CIDR narrower than /0", p)
		}
	}
	for _, a := range o.ServiceAccountAudiences {
		if a == "" || strings.ContainsAny(a, " \t") {
			return fmt.Errorf("service account audience %q must be non-empty without spaces", a)
		}
	}
	if _, err := validateTokenPaths(o.TokenPathAliases); err != nil {
		return err
	}
	return nil
}

// Start serves until ctx ends, then shuts down gracefully. It implements the
// controller-runtime Runnable interface.
func (s *Server) Start(ctx context.Context) error {
	ln := s.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", s.opts.Addr, err)
		}
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	if s.opts.TLSCertFile != "" {
		r := &certReloader{certFile: s.opts.TLSCertFile, keyFile: s.opts.TLSKeyFile}
		if _, err := r.get(nil); err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if s.opts.Ready != nil {
		s.opts.Ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down token server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection is false: every replica serves tokens.
func (s *Server) NeedLeaderElection() bool { return false }

// certReloader re-reads the certificate when its files change, checking at
// most every few seconds so a handshake does not pay a stat each time.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	modTime           time.Time
	checked           time.Time
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && time.Since(r.checked) < 5*time.Second {
		return r.cert, nil
	}
	r.checked = time.Now()
	st, err := os.Stat(r.certFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("stat TLS certificate: %w", err)
	}
	if r.cert != nil && st.ModTime().Equal(r.modTime) {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			// A half-written pair during rotation: keep serving the old one.
			return r.cert, nil
		}
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	r.cert, r.modTime = &c, st.ModTime()
	return r.cert, nil
}

package workload

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/utils/clock"

	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// ErrMissing is wrapped by errors about files that are absent or empty: the
// Secret is not mounted, or Tokenwarden removed the tokens because they were
// refused (see the OAuthClient's TokensReady condition and Events).
var ErrMissing = errors.New("missing")

// ErrExpired is wrapped by the error of a token Secret whose token has
// expired: Tokenwarden has not renewed it (or the kubelet has not yet
// propagated the renewal).
var ErrExpired = errors.New("token expired")

// TokenOptions configure TokenSecretSource.
type TokenOptions struct {
	// ExpiryMargin: a token that expires within this margin is not returned,
	// so it cannot expire on its way to the server (default 5 s).
	ExpiryMargin time.Duration
	// Clock is injected by tests; default the real clock.
	Clock clock.PassiveClock
}

// TokenSecretSource returns an oauth2.TokenSource serving the token of a
// workload token Secret (an entry of an OAuthClient's spec.tokenSecrets)
// mounted at dir. Tokenwarden renews the token in the Secret and the kubelet
// swaps the mount; every call checks the mount's "..data" link (one readlink)
// and reads the files again when it changed, so the newest token is served
// without a restart. It never returns a token at or past its expires_at (less
// ExpiryMargin): that is an error wrapping ErrExpired, and absent files are an
// error wrapping ErrMissing.
//
// The refresh_token of a user's token Secret is deliberately not returned:
// Tokenwarden owns the refresh-token family, and a pod that refreshed it would
// rotate the token out from under the operator.
func TokenSecretSource(dir string, o TokenOptions) oauth2.TokenSource {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.ExpiryMargin == 0 {
		o.ExpiryMargin = 5 * time.Second
	}
	return &tokenSecretSource{dir: dir, opts: o}
}

type tokenSecretSource struct {
	dir  string
	opts TokenOptions

	mu      sync.Mutex
	version string
	tok     *oauth2.Token
}

var tokenFiles = []string{contract.KeyAccessToken, contract.KeyTokenType, contract.KeyExpiresAt}

// Token implements oauth2.TokenSource.
func (s *tokenSecretSource) Token() (*oauth2.Token, error) {
	tok, err := s.current()
	if err != nil {
		return nil, err
	}
	now := s.opts.Clock.Now()
	if !now.Before(tok.Expiry.Add(-s.opts.ExpiryMargin)) {
		return nil, fmt.Errorf("%w: the token in %s expired at %s (now %s); Tokenwarden has not renewed it: check the OAuthClient's TokensReady condition",
			ErrExpired, s.dir, tok.Expiry.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return copyToken(tok), nil
}

// current returns the token of the mounted version, parsing the files only
// when the version changed (or always, for a plain directory).
func (s *tokenSecretSource) current() (*oauth2.Token, error) {
	version, err := mountVersion(s.dir)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if version != "" && version == s.version && s.tok != nil {
		return s.tok, nil
	}
	snap, err := readMount(s.dir, tokenFiles)
	if err != nil {
		return nil, err
	}
	tok, err := parseToken(s.dir, snap)
	if err != nil {
		return nil, err
	}
	s.version, s.tok = snap.version, tok
	return tok, nil
}

func parseToken(dir string, snap snapshot) (*oauth2.Token, error) {
	v, err := snap.require(dir, contract.KeyAccessToken, contract.KeyExpiresAt)
	if err != nil {
		return nil, err
	}
	exp, err := time.Parse(time.RFC3339, v[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not an RFC 3339 time: %w", dir, contract.KeyExpiresAt, err)
	}
	typ := snap.files[contract.KeyTokenType]
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: v[0], TokenType: typ, Expiry: exp}, nil
}

// NewClient returns an *http.Client that sends a token of src with every
// request (RFC 6750 §2.1). Unlike oauth2.NewClient it adds no second cache
// in front of src, so a token Secret swapped by the kubelet is used from the
// next request on.
func NewClient(src oauth2.TokenSource) *http.Client {
	return &http.Client{Transport: &oauth2.Transport{Source: src}}
}

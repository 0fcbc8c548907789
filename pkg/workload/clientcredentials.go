package workload

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"k8s.io/utils/clock"

	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// Credentials are the contents of an OAuthClient's credential Secret.
type Credentials struct {
	ClientID     string
	ClientSecret string
	Issuer       string
	TokenURL     string
	JWKSURL      string
	// Scopes are the scopes the client may request.
	Scopes []string
}

var credentialFiles = []string{
	contract.KeyClientID, contract.KeyClientSecret, contract.KeyIssuer,
	contract.KeyTokenURL, contract.KeyJWKSURL, contract.KeyScope,
}

// ReadCredentials reads a mounted credential Secret. It fails with an error
// wrapping ErrMissing when client_id, client_secret or token_url is absent
// (a public client has no secret and cannot use client_credentials).
func ReadCredentials(dir string) (Credentials, error) {
	s, err := readMount(dir, credentialFiles)
	if err != nil {
		return Credentials{}, err
	}
	v, err := s.require(dir, contract.KeyClientID, contract.KeyClientSecret, contract.KeyTokenURL)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{
		ClientID: v[0], ClientSecret: v[1], TokenURL: v[2],
		Issuer: s.files[contract.KeyIssuer], JWKSURL: s.files[contract.KeyJWKSURL],
		Scopes: strings.Fields(s.files[contract.KeyScope]),
	}, nil
}

// ClientOptions configure ClientCredentialsSource. The zero value requests
// every scope the Secret lists, for the client's default audience.
type ClientOptions struct {
	// Scopes to request, within the client's own; default: the Secret's
	// scope file.
	Scopes []string
	// Audience to request (sent as "audience"), within the client's own.
	Audience []string
	// HTTPClient sends the token requests; default http.DefaultClient.
	HTTPClient *http.Client
	// RenewBefore is how long before expiry a new token is fetched
	// (default 30 s).
	RenewBefore time.Duration
	// Clock is injected by tests; default the real clock.
	Clock clock.PassiveClock
}

// ClientCredentialsSource returns an oauth2.TokenSource for the client whose
// credential Secret is mounted at dir. It gets tokens with the
// client_credentials grant (RFC 6749 §4.4) through x/oauth2's clientcredentials
// package, authenticating with HTTP Basic.
//
// The Secret's files are read again for every new token, not once at start:
// after a client-secret rotation (spec.secretRotation) the kubelet updates the
// mount and the next token is fetched with the new secret, so a long-lived
// process keeps working without a restart. Tokens are reused until RenewBefore
// ahead of their expiry. ctx carries the HTTP client for x/oauth2 and bounds
// every request; it should live as long as the source.
func ClientCredentialsSource(ctx context.Context, dir string, o ClientOptions) oauth2.TokenSource {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = 30 * time.Second
	}
	if o.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient)
	}
	s := &clientCredentialsSource{ctx: ctx, dir: dir, opts: o}
	return &renewing{opts: o, fetch: s.fetch}
}

// renewing serves the token fetch returned until RenewBefore its expiry,
// then fetches again; fetches are serialized, so concurrent callers of an
// expired token cause one token request.
type renewing struct {
	opts  ClientOptions
	fetch func() (*oauth2.Token, error)

	mu  sync.Mutex
	tok *oauth2.Token
}

// Token returns the cached token while it is fresh, else a new one.
func (r *renewing) Token() (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Clock.Now()
	if r.tok != nil && now.Before(r.tok.Expiry.Add(-r.opts.RenewBefore)) {
		return copyToken(r.tok), nil
	}
	tok, err := r.fetch()
	if err != nil {
		return nil, err
	}
	// Expiry is counted on the injected clock from the moment the request
	// was sent, so it never lies later than the server's.
	if d, ok := lifetime(tok); ok {
		tok.Expiry = now.Add(d)
	}
	r.tok = tok
	return copyToken(tok), nil
}

type clientCredentialsSource struct {
	ctx  context.Context
	dir  string
	opts ClientOptions
}

// fetch gets a token with the credentials currently mounted.
func (s *clientCredentialsSource) fetch() (*oauth2.Token, error) {
	creds, err := ReadCredentials(s.dir)
	if err != nil {
		return nil, err
	}
	tok, err := s.config(creds).Token(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("client_credentials token for %s from %s: %w", creds.ClientID, creds.TokenURL, err)
	}
	return tok, nil
}

func (s *clientCredentialsSource) config(c Credentials) *clientcredentials.Config {
	cfg := &clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: c.TokenURL,
		Scopes: c.Scopes, AuthStyle: oauth2.AuthStyleInHeader,
	}
	if s.opts.Scopes != nil {
		cfg.Scopes = s.opts.Scopes
	}
	if len(s.opts.Audience) > 0 {
		cfg.EndpointParams = url.Values{"audience": {strings.Join(s.opts.Audience, " ")}}
	}
	return cfg
}

// lifetime is the token's expires_in (RFC 6749 §5.1). clientcredentials does
// not fill Token.ExpiresIn, so the raw response field is read.
func lifetime(t *oauth2.Token) (time.Duration, bool) {
	secs := t.ExpiresIn
	if secs <= 0 {
		switch v := t.Extra("expires_in").(type) {
		case float64:
			secs = int64(v)
		case string:
			secs, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return time.Duration(secs) * time.Second, secs > 0
}

// copyToken returns a copy a caller may keep or modify.
func copyToken(t *oauth2.Token) *oauth2.Token {
	c := *t
	return &c
}

package workload

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"k8s.io/utils/clock"
)

// AssertionTypeJWTBearer is the client_assertion_type of RFC 7523 §2.2.
const AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultServiceAccountTokenPath is where config/samples mounts the projected
// ServiceAccount token for Tokenwarden's audience.
const DefaultServiceAccountTokenPath = "/var/run/secrets/tokenwarden/token"

// ServiceAccountSource returns an oauth2.TokenSource for a client that
// authenticates with the pod's projected ServiceAccount token (the OAuthClient
// lists the ServiceAccount in spec.authentication.serviceAccounts): no client
// secret exists. It gets tokens with client_credentials, sending the token
// file's contents as an RFC 7523 client assertion. clientID may be empty when
// only one client of the namespace lists the ServiceAccount.
//
// The token file is read again for every new access token: the kubelet
// rewrites it before it expires, so a long-lived process keeps working.
// Tokens are reused until o.RenewBefore ahead of their expiry; o.Scopes and
// o.Audience are sent when set.
func ServiceAccountSource(ctx context.Context, tokenURL, clientID, tokenPath string, o ClientOptions) oauth2.TokenSource {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = 30 * time.Second
	}
	if o.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient)
	}
	s := &serviceAccountSource{ctx: ctx, tokenURL: tokenURL, clientID: clientID, path: tokenPath, opts: o}
	return &renewing{opts: o, fetch: s.fetch}
}

type serviceAccountSource struct {
	ctx                      context.Context
	tokenURL, clientID, path string
	opts                     ClientOptions
}

// fetch gets a token with the ServiceAccount token currently mounted.
func (s *serviceAccountSource) fetch() (*oauth2.Token, error) {
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("read the ServiceAccount token: %w", err)
	}
	assertion := strings.TrimSpace(string(raw))
	if assertion == "" {
		return nil, fmt.Errorf("the ServiceAccount token file %s is empty: %w", s.path, ErrMissing)
	}
	cfg := &clientcredentials.Config{
		ClientID: s.clientID, TokenURL: s.tokenURL, Scopes: s.opts.Scopes, AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {assertion}},
	}
	if len(s.opts.Audience) > 0 {
		cfg.EndpointParams.Set("audience", strings.Join(s.opts.Audience, " "))
	}
	tok, err := cfg.Token(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("client_credentials token with a ServiceAccount assertion from %s: %w", s.tokenURL, err)
	}
	return tok, nil
}

package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/utils/clock"
)

// NamespaceClaim is the claim in which Tokenwarden names the namespace
// (tenant) of the client a token was issued to.
const NamespaceClaim = "tokenwarden.dev/namespace"

// Config says which tokens a resource server accepts.
type Config struct {
	// Issuer is the Tokenwarden issuer URL, exactly as in the tokens' iss
	// (the "issuer" file of a credential Secret). Discovery is read from
	// Issuer + "/.well-known/openid-configuration". Required.
	Issuer string
	// Audience: a token is accepted when its aud contains one of these
	// (RFC 9068 §4). Required: a token for another API must not work here.
	Audience []string
	// Algorithms replaces the allowlist read from discovery. "none" and
	// HMAC algorithms are dropped whatever is configured.
	Algorithms []string
	// Leeway for exp, nbf and iat, for clock skew (default 30 s).
	Leeway time.Duration
	// TenantClaim, when set, names a claim that must equal Tenant.
	// Tokenwarden's tokens name the namespace of the client they were issued
	// to in NamespaceClaim: set TenantClaim to it and Tenant to the
	// namespaces whose clients this API serves (a missing claim refuses the
	// token).
	TenantClaim string
	// Tenant is the value TenantClaim must have.
	Tenant string
	// Introspection, when set, asks the issuer about every token after the
	// local checks (RFC 7662), so that a revoked token is refused at once at
	// the price of one request per verification.
	Introspection *Introspection
	// HTTPClient fetches discovery, the JWKS and introspection (default: a
	// client with a 10 s timeout).
	HTTPClient *http.Client
	// MinRefetchInterval is the least time between two JWKS fetches not due
	// to max-age: for an unknown kid, or after a failed fetch (default 10 s).
	MinRefetchInterval time.Duration
	// Clock is injected by tests; default the real clock.
	Clock clock.PassiveClock
}

// Introspection configures RFC 7662 introspection with the resource
// server's own client credentials.
type Introspection struct {
	ClientID, ClientSecret string
	// Endpoint overrides the introspection_endpoint of discovery.
	Endpoint string
}

// Verifier checks Tokenwarden access tokens. It is safe for concurrent use;
// make one per issuer and audience and share it.
type Verifier struct {
	cfg      Config
	algs     []jose.SignatureAlgorithm
	keys     *keySet
	introURL string
}

// New reads the issuer's discovery document, builds the algorithm allowlist
// and fetches the JWKS once, so the first request does not wait for it.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || len(cfg.Audience) == 0 {
		return nil, errors.New("verifier: Issuer and Audience are required")
	}
	if cfg.TenantClaim != "" && cfg.Tenant == "" {
		return nil, errors.New("verifier: TenantClaim is set without Tenant")
	}
	cfg.defaults()
	d, err := discover(ctx, cfg.HTTPClient, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	v := &Verifier{cfg: cfg, keys: &keySet{
		url: d.JWKSURI, client: cfg.HTTPClient, clock: cfg.Clock, minRefetch: cfg.MinRefetchInterval,
	}}
	fetchErr := v.keys.refresh(ctx, 0, true)
	if len(cfg.Algorithms) == 0 && len(d.AccessTokenAlgs)+len(d.IDTokenAlgs) == 0 {
		cfg.Algorithms = keyAlgorithms(v.keys.snapshot())
	}
	if v.algs, err = allowedAlgorithms(cfg.Algorithms, d); err != nil {
		return nil, fmt.Errorf("verifier: %w (jwks: %v)", err, fetchErr)
	}
	if cfg.Introspection != nil {
		v.introURL = cfg.Introspection.Endpoint
		if v.introURL == "" {
			v.introURL = d.IntrospectionEndpoint
		}
		if v.introURL == "" {
			return nil, errors.New("verifier: introspection requested but the issuer advertises no introspection_endpoint")
		}
	}
	return v, nil
}

func (c *Config) defaults() {
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.MinRefetchInterval == 0 {
		c.MinRefetchInterval = 10 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
}

func keyAlgorithms(keys map[string]jose.JSONWebKey) []string {
	var algs []string
	for _, k := range keys {
		if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	return algs
}

// Claims are the verified claims of an access token (RFC 9068 §2.2).
type Claims struct {
	jwt.Claims
	ClientID          string           `json:"client_id"`
	Scope             string           `json:"scope,omitempty"`
	PreferredUsername string           `json:"preferred_username,omitempty"`
	AuthTime          *jwt.NumericDate `json:"auth_time,omitempty"`
	raw               json.RawMessage
}

// Scopes returns the granted scopes.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether scope was granted.
func (c *Claims) HasScope(scope string) bool {
	for s := range strings.FieldsSeq(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// Decode unmarshals every claim of the token into dest, for claims this type
// does not name.
func (c *Claims) Decode(dest any) error { return json.Unmarshal(c.raw, dest) }

// Verify checks a compact JWS access token: the algorithm allowlist,
// typ at+jwt, the signature with the issuer's key of the token's kid, iss,
// aud, exp (required), nbf and iat with leeway, the claims RFC 9068 requires,
// the tenant claim when configured and, when configured, introspection.
// Errors are *Error wrapping ErrInvalidToken or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, invalid("the token is not a JWS with an accepted algorithm", err)
	}
	h := tok.Headers[0]
	if !isAccessTokenType(h.ExtraHeaders[jose.HeaderType]) {
		return nil, invalid("the token is not an access token (typ must be at+jwt)", nil)
	}
	key, err := v.keys.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, invalid("the token's algorithm does not match its key", nil)
	}
	c := &Claims{}
	if err := tok.Claims(key.Key, c, &c.raw); err != nil {
		return nil, invalid("the token signature or claims are invalid", err)
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	if v.introURL != "" {
		if err := v.introspect(ctx, token); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// isAccessTokenType accepts "at+jwt" and "application/at+jwt", in any case
// (RFC 9068 §4, RFC 7515 §4.1.9).
func isAccessTokenType(typ any) bool {
	s, _ := typ.(string)
	s = strings.ToLower(s)
	return s == "at+jwt" || s == "application/at+jwt"
}

func (v *Verifier) checkClaims(c *Claims) error {
	if c.Expiry == nil || c.IssuedAt == nil || c.Subject == "" || c.ClientID == "" || c.ID == "" {
		return invalid("the token lacks a claim RFC 9068 requires (exp, iat, sub, client_id, jti)", nil)
	}
	err := c.Claims.ValidateWithLeeway(jwt.Expected{
		Issuer: v.cfg.Issuer, AnyAudience: v.cfg.Audience, Time: v.cfg.Clock.Now(),
	}, v.cfg.Leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return invalid("the token is from another issuer", nil)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return invalid("the token is not meant for this audience", nil)
	case errors.Is(err, jwt.ErrExpired):
		return invalid("the token has expired", nil)
	default:
		return invalid("the token is not valid yet", err)
	}
	if v.cfg.TenantClaim != "" {
		var all map[string]any
		if err := c.Decode(&all); err != nil {
			return invalid("the token claims are unreadable", err)
		}
		if t, _ := all[v.cfg.TenantClaim].(string); t != v.cfg.Tenant {
			return invalid("the token belongs to another tenant", nil)
		}
	}
	return nil
}

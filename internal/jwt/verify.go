package jwt

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// allowedAlgorithms is the explicit allowlist: never "none", never an HMAC
// algorithm a public key could be confused with.
var allowedAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// KeyLookup finds a public key by kid (keys.Set implements it).
type KeyLookup interface {
	PublicKey(kid string) (jose.JSONWebKey, bool)
}

// VerifyOptions say what a valid token looks like.
type VerifyOptions struct {
	Issuer string
	// Audience, when set, must be among the token's audiences.
	Audience string
	// Type, when set, must match the typ header (for at+jwt, the
	// "application/at+jwt" spelling is accepted too, RFC 9068 §4).
	Type string
	// Leeway for exp, nbf and iat. Default 30 s.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Claims are the verified claims.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expiry    *int64   `json:"exp"`
	IssuedAt  *int64   `json:"iat"`
	NotBefore *int64   `json:"nbf"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	// Raw holds every claim.
	Raw map[string]any `json:"-"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor a list of strings")
	}
	*a = many
	return nil
}

// ErrInvalid wraps every verification failure.
var ErrInvalid = errors.New("invalid token")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Verify checks a compact JWS token: algorithm allowlist, known kid, typ,
// signature, issuer, audience, and expiry (required) with leeway.
func Verify(token string, ks KeyLookup, o VerifyOptions) (*Claims, error) {
	jws, err := jose.ParseSignedCompact(token, allowedAlgorithms)
	if err != nil {
		return nil, invalid("malformed or disallowed algorithm")
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	key, ok := ks.PublicKey(h.KeyID)
	if !ok {
		return nil, invalid("unknown kid")
	}
	if key.Algorithm != h.Algorithm {
		return nil, invalid("algorithm does not match the key")
	}
	if o.Type != "" {
		typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
		if typ != o.Type && typ != "application/"+o.Type {
			return nil, invalid("wrong token type")
		}
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, invalid("bad signature")
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("malformed claims")
	}
	if err := json.Unmarshal(payload, &c.Raw); err != nil {
		return nil, invalid("malformed claims")
	}
	if err := checkClaims(&c, o); err != nil {
		return nil, err
	}
	return &c, nil
}

func checkClaims(c *Claims, o VerifyOptions) error {
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	leeway := o.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	switch {
	case c.Issuer != o.Issuer:
		return invalid("wrong issuer")
	case o.Audience != "" && !slices.Contains(c.Audience, o.Audience):
		return invalid("wrong audience")
	case c.Expiry == nil:
		return invalid("no expiry")
	case !now.Before(time.Unix(*c.Expiry, 0).Add(leeway)):
		return invalid("expired")
	case c.NotBefore != nil && now.Add(leeway).Before(time.Unix(*c.NotBefore, 0)):
		return invalid("not valid yet")
	case c.IssuedAt != nil && now.Add(leeway).Before(time.Unix(*c.IssuedAt, 0)):
		return invalid("issued in the future")
	}
	return nil
}

package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// allowedAlgorithms is the explicit allowlist: never "none", never an HMAC
// algorithm a public key could be confused with.
var allowedAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// defaultLeeway is the clock skew allowed for exp, nbf and iat.
const defaultLeeway = 30 * time.Second

// KeyLookup finds a public key by kid (keys.Set implements it).
type KeyLookup interface {
	PublicKey(kid string) (jose.JSONWebKey, bool)
}

// VerifyOptions say what a valid token looks like.
type VerifyOptions struct {
	// Issuer must equal the token's iss. Required.
	Issuer string
	// Audience, when set, must be among the token's audiences.
	Audience string
	// Type, when set, must match the typ header (for at+jwt, the
	// "application/at+jwt" spelling is accepted too, RFC 9068 §4).
	Type string
	// Leeway for exp, nbf and iat. Default 30 s.
	Leeway time.Duration
	// AllowExpired accepts a token past its exp (which must still be
	// present): an id_token_hint of a logout request may have expired
	// (OpenID Connect RP-Initiated Logout 1.0 §2).
	AllowExpired bool
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

// Verify checks a compact JWS token: algorithm allowlist, known kid whose
// algorithm is the header's, typ, signature, issuer, audience, and expiry
// (required) with leeway.
func Verify(token string, ks KeyLookup, o VerifyOptions) (*Claims, error) {
	if o.Issuer == "" {
		// Fail closed: go-jose skips the issuer check for an empty one.
		return nil, invalid("no issuer to verify against")
	}
	// Compact serialization only (RFC 7519 §7.2); the allowlist is checked
	// while parsing, before any key is looked at.
	tok, err := jwt.ParseSigned(token, allowedAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, invalid("malformed or disallowed algorithm")
	}
	key, err := checkHeader(tok.Headers[0], ks, o.Type)
	if err != nil {
		return nil, err
	}
	// Claims with no destination only verifies the signature.
	if err := tok.Claims(key); err != nil {
		return nil, invalid("bad signature")
	}
	var c Claims
	// The payload was verified just above; this decodes the same bytes.
	if err := tok.UnsafeClaimsWithoutVerification(&c, &c.Raw); err != nil {
		return nil, invalid("malformed claims")
	}
	if err := checkClaims(&c, o); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkHeader returns the key of the header's kid, if its algorithm is the
// header's (no key is used with another algorithm than its own) and the typ
// is the wanted one.
func checkHeader(h jose.Header, ks KeyLookup, typ string) (jose.JSONWebKey, error) {
	key, ok := ks.PublicKey(h.KeyID)
	if !ok {
		return key, invalid("unknown kid")
	}
	if key.Algorithm != h.Algorithm {
		return key, invalid("algorithm does not match the key")
	}
	if typ != "" {
		got, _ := h.ExtraHeaders[jose.HeaderType].(string)
		if got != typ && got != "application/"+typ {
			return key, invalid("wrong token type")
		}
	}
	return key, nil
}

// checkClaims validates the registered claims with go-jose's jwt.Claims,
// then what it leaves out: exp is required, and a token is expired at
// exp+leeway (RFC 7519 §4.1.4: now must be before exp), where go-jose still
// accepts it for that one instant.
func checkClaims(c *Claims, o VerifyOptions) error {
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	leeway := o.Leeway
	if leeway == 0 {
		leeway = defaultLeeway
	}
	want := jwt.Expected{Issuer: o.Issuer, Time: now}
	if o.Audience != "" {
		want.AnyAudience = jwt.Audience{o.Audience}
	}
	jc := jwt.Claims{
		Issuer: c.Issuer, Audience: jwt.Audience(c.Audience),
		Expiry: numericDate(c.Expiry), NotBefore: numericDate(c.NotBefore), IssuedAt: numericDate(c.IssuedAt),
	}
	if o.AllowExpired {
		jc.Expiry = nil
	}
	if err := jc.ValidateWithLeeway(want, leeway); err != nil {
		return invalid("%s", claimReason(err))
	}
	switch {
	case c.Expiry == nil:
		return invalid("no expiry")
	case !o.AllowExpired && !now.Before(numericDate(c.Expiry).Time().Add(leeway)):
		return invalid("expired")
	}
	return nil
}

func numericDate(v *int64) *jwt.NumericDate {
	if v == nil {
		return nil
	}
	d := jwt.NumericDate(*v)
	return &d
}

// claimReason names a go-jose validation error in this package's words.
func claimReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrExpired):
		return "expired"
	case errors.Is(err, jwt.ErrNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return "issued in the future"
	}
	return err.Error()
}

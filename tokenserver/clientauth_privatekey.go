package tokenserver

import (
	"context"
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/utils/lru"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// maxAssertionLifetime bounds exp - iat (or exp - now) of a private_key_jwt
// assertion: a short life keeps the replay record small.
const maxAssertionLifetime = 5 * time.Minute

// authenticatePrivateKeyJWT is private_key_jwt (RFC 7523 §2.2 and §3, OpenID
// Connect Core §9): iss = sub = the client_id, aud the token endpoint (or
// the endpoint called) or the issuer, a lifetime of at most five minutes, a
// jti used once, signed by a key of the client's JWKS with an allowed
// asymmetric algorithm. Only the verified claims are believed.
func (s *Server) authenticatePrivateKeyJWT(ctx context.Context, r *http.Request, tok *jwt.JSONWebToken, unverified *jwt.Claims, id string, rt route) (*store.Client, error) {
	iss := unverified.Issuer
	if iss == "" || (id != "" && id != iss) {
		return nil, errAssertionRefused
	}
	c, err := s.assertedClient(ctx, iss, rt)
	if err != nil {
		return nil, err
	}
	if c.Object.Status.ClientID != iss || len(c.JWKS) == 0 {
		return nil, errAssertionRefused
	}
	set, err := s.clientKeys.parse(c.JWKS)
	if err != nil {
		return nil, errAssertionRefused
	}
	claims, ok := verifyWithKeys(tok, set)
	if !ok || claims.Issuer != iss || claims.Subject != iss || !s.assertionAudience(r, claims.Audience) {
		return nil, errAssertionRefused
	}
	now := s.opts.Clock.Now()
	if !assertionTimely(claims, now) || claims.ID == "" {
		return nil, errAssertionRefused
	}
	if err := s.jtis.use(string(c.Object.UID)+"\x00"+claims.ID, claims.Expiry.Time().Add(assertionLeeway), now); err != nil {
		return nil, err
	}
	return c, nil
}

// verifyWithKeys checks the signature with the key the header's kid names,
// or, without a kid, with each key in turn; a key that states an alg must
// match the header's.
func verifyWithKeys(tok *jwt.JSONWebToken, set []jose.JSONWebKey) (*jwt.Claims, bool) {
	h := tok.Headers[0]
	for _, k := range set {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		var claims jwt.Claims
		if err := tok.Claims(k.Key, &claims); err == nil {
			return &claims, true
		}
	}
	return nil, false
}

// assertionAudience: the issuer, the token endpoint, or the URL of the
// endpoint called (introspection, revocation, an alias or per-client token
// URL), as OpenID Connect Core §9 and RFC 7523 §3 allow.
func (s *Server) assertionAudience(r *http.Request, aud jwt.Audience) bool {
	base := strings.TrimRight(s.opts.Issuer, "/")
	for _, a := range aud {
		if a == s.opts.Issuer || a == base+"/oauth/token" || a == base+r.URL.Path {
			return true
		}
	}
	return false
}

// assertionTimely: exp present and not passed, nbf and iat not in the
// future, and at most maxAssertionLifetime between iat (or now) and exp,
// each with assertionLeeway for clock skew.
func assertionTimely(c *jwt.Claims, now time.Time) bool {
	if c.Expiry == nil {
		return false
	}
	exp := c.Expiry.Time()
	start := now
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time()
		if start.After(now.Add(assertionLeeway)) {
			return false
		}
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(assertionLeeway)) {
		return false
	}
	// With iat at most the leeway ahead, exp is never more than the
	// lifetime and the leeway away.
	return now.Before(exp.Add(assertionLeeway)) && exp.Sub(start) <= maxAssertionLifetime
}

// clientKeySets caches parsed client JWKS by the SHA-256 of their JSON, so a
// request does not parse RSA moduli again; a changed JWKS is a new entry.
type clientKeySets struct{ parsed *lru.Cache }

func newClientKeySets(size int) *clientKeySets { return &clientKeySets{parsed: lru.New(size)} }

type parsedKeys struct {
	keys []jose.JSONWebKey
	err  error
}

func (c *clientKeySets) parse(data []byte) ([]jose.JSONWebKey, error) {
	key := sha256.Sum256(data)
	if v, ok := c.parsed.Get(key); ok {
		p := v.(parsedKeys)
		return p.keys, p.err
	}
	ks, err := keys.ParseClientJWKS(data)
	c.parsed.Add(key, parsedKeys{keys: slices.Clip(ks), err: err})
	return ks, err
}

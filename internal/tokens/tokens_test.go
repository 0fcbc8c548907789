package tokens

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// fixedNow is the clock of every test: tokens are minted at it and verified
// with VerifyOptions.Now returning it.
var fixedNow = time.Date(2026, time.March, 14, 9, 26, 53, 0, time.UTC)

const (
	testIssuer   = "https://issuer.tokenwarden.test"
	testAudience = "https://api.tokenwarden.test"
	testClientID = "client-123"
	testSubject  = "user-42"
)

var testAlgs = []keys.Algorithm{keys.ES256, keys.RS256, keys.EdDSA}

// fixture is one key set with, per algorithm, an active key (signs) and a
// next key (published, does not sign).
type fixture struct {
	set    *keys.Set
	active map[keys.Algorithm]keys.Key
	next   map[keys.Algorithm]keys.Key
}

// loadFixture generates the keys once per test binary: RSA generation is slow,
// especially under -race.
var loadFixture = sync.OnceValues(func() (*fixture, error) {
	f := &fixture{active: map[keys.Algorithm]keys.Key{}, next: map[keys.Algorithm]keys.Key{}}
	var all []keys.Key
	for _, alg := range testAlgs {
		a, err := keys.GenerateKey(alg, fixedNow.Add(-2*time.Hour))
		if err != nil {
			return nil, err
		}
		a.State, a.ActivatedAt = keys.StateActive, fixedNow.Add(-time.Hour)
		n, err := keys.GenerateKey(alg, fixedNow.Add(-time.Minute))
		if err != nil {
			return nil, err
		}
		f.active[alg], f.next[alg] = a, n
		all = append(all, a, n)
	}
	set, err := keys.NewSet(all)
	if err != nil {
		return nil, err
	}
	f.set = set
	return f, nil
})

func getFixture(tb testing.TB) *fixture {
	tb.Helper()
	f, err := loadFixture()
	if err != nil {
		tb.Fatalf("fixture: %v", err)
	}
	return f
}

func (f *fixture) priv(alg keys.Algorithm) any { return f.active[alg].Private.Key }
func (f *fixture) pub(alg keys.Algorithm) any {
	k := f.active[alg].Private
	return k.Public().Key
}
func (f *fixture) kid(alg keys.Algorithm) string {
	return f.active[alg].ID
}

func accessClaims() AccessClaims {
	return AccessClaims{
		Issuer: testIssuer, Subject: testSubject, Audience: []string{testAudience},
		ClientID: testClientID, Scope: "openid profile", JTI: "jti-fixed",
		IssuedAt: fixedNow, TTL: time.Hour,
	}
}

func accessOpts() VerifyOptions {
	return VerifyOptions{
		Issuer: testIssuer, Audience: testAudience, Type: TypeAccessToken,
		Now: func() time.Time { return fixedNow },
	}
}

func idOpts() VerifyOptions {
	return VerifyOptions{
		Issuer: testIssuer, Audience: testClientID, Type: TypeIDToken,
		Now: func() time.Time { return fixedNow },
	}
}

func mintAccess(tb testing.TB, f *fixture, alg keys.Algorithm, c AccessClaims) string {
	tb.Helper()
	tok, err := MintAccessToken(f.set, alg, c)
	if err != nil {
		tb.Fatalf("MintAccessToken(%s): %v", alg, err)
	}
	return tok
}

// baseClaims are valid access-token claims for hand-crafted tokens.
func baseClaims() map[string]any {
	iat := fixedNow.Unix()
	return map[string]any{
		"iss": testIssuer, "sub": testSubject, "aud": testAudience, "client_id": testClientID,
		"jti": "jti-hand", "scope": "openid", "iat": iat, "nbf": iat, "exp": iat + 3600,
	}
}

func withClaims(mod func(map[string]any)) map[string]any {
	c := baseClaims()
	mod(c)
	return c
}

// signWith signs claims (marshalled to JSON unless already []byte) as a
// compact JWS with any algorithm and key, outside the package's code paths.
func signWith(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, claims any) string {
	tb.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		tb.Fatalf("NewSigner(%s): %v", alg, err)
	}
	payload, ok := claims.([]byte)
	if !ok {
		if payload, err = json.Marshal(claims); err != nil {
			tb.Fatal(err)
		}
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatalf("Sign(%s): %v", alg, err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func b64JSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// flipChar replaces the character in the middle of part i of a compact token
// by another base64url character. The middle, not the end: the last character
// of a segment may only carry padding bits, which base64 decoding ignores.
func flipChar(tok string, part int) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[part])
	m := len(p) / 2
	if p[m] == 'A' {
		p[m] = 'B'
	} else {
		p[m] = 'A'
	}
	parts[part] = string(p)
	return strings.Join(parts, ".")
}

func header(tb testing.TB, tok string) jose.Header {
	tb.Helper()
	jws, err := jose.ParseSignedCompact(tok, allowedAlgorithms)
	if err != nil {
		tb.Fatalf("parse %q: %v", tok, err)
	}
	if len(jws.Signatures) != 1 {
		tb.Fatalf("%d signatures", len(jws.Signatures))
	}
	return jws.Signatures[0].Protected
}

func i64(v *int64) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprint(*v)
}

// Round trips.

func TestMintAccessTokenRoundTrip(t *testing.T) {
	f := getFixture(t)
	for _, alg := range testAlgs {
		t.Run(string(alg), func(t *testing.T) {
			for _, aud := range [][]string{{testAudience}, {"https://other.test", testAudience}} {
				c := accessClaims()
				c.Audience = aud
				c.Extra = map[string]any{"preferred_username": "alice", "auth_time": fixedNow.Add(-time.Minute).Unix()}
				tok := mintAccess(t, f, alg, c)

				if n := strings.Count(tok, "."); n != 2 {
					t.Fatalf("token has %d dots, want a compact JWS", n)
				}
				h := header(t, tok)
				if h.Algorithm != string(alg) {
					t.Errorf("alg = %q, want %q", h.Algorithm, alg)
				}
				if h.KeyID != f.kid(alg) {
					t.Errorf("kid = %q, want the active key %q (next key is %q)", h.KeyID, f.kid(alg), f.next[alg].ID)
				}
				if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
					t.Errorf("typ = %v, want at+jwt", typ)
				}

				got, err := Verify(tok, f.set, accessOpts())
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				iat, exp := fixedNow.Unix(), fixedNow.Add(time.Hour).Unix()
				if got.Issuer != testIssuer || got.Subject != testSubject || got.ClientID != testClientID ||
					got.Scope != "openid profile" || got.JTI != "jti-fixed" {
					t.Errorf("claims = %+v", got)
				}
				if strings.Join(got.Audience, " ") != strings.Join(aud, " ") {
					t.Errorf("aud = %q, want %q", got.Audience, aud)
				}
				if got.IssuedAt == nil || *got.IssuedAt != iat || got.NotBefore == nil || *got.NotBefore != iat ||
					got.Expiry == nil || *got.Expiry != exp {
					t.Errorf("iat/nbf/exp = %s/%s/%s, want %d/%d/%d", i64(got.IssuedAt), i64(got.NotBefore), i64(got.Expiry), iat, iat, exp)
				}
				// RFC 7519 §4.1.3: one audience is a string, several a list.
				if len(aud) == 1 {
					if s, ok := got.Raw["aud"].(string); !ok || s != aud[0] {
						t.Errorf("raw aud = %#v, want the string %q", got.Raw["aud"], aud[0])
					}
				} else if _, ok := got.Raw["aud"].([]any); !ok {
					t.Errorf("raw aud = %#v, want a list", got.Raw["aud"])
				}
				if got.Raw["preferred_username"] != "alice" || got.Raw["auth_time"] != float64(fixedNow.Add(-time.Minute).Unix()) {
					t.Errorf("extra claims missing: %v", got.Raw)
				}
			}
		})
	}
}

func TestMintAccessTokenOmitsEmptyScopeAndGeneratesJTI(t *testing.T) {
	f := getFixture(t)
	for _, alg := range testAlgs {
		t.Run(string(alg), func(t *testing.T) {
			c := accessClaims()
			c.Scope, c.JTI = "", ""
			seen := map[string]bool{}
			for range 3 {
				got, err := Verify(mintAccess(t, f, alg, c), f.set, accessOpts())
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := got.Raw["scope"]; ok {
					t.Errorf("scope claim present for an empty Scope: %v", got.Raw["scope"])
				}
				if len(got.JTI) < 16 || seen[got.JTI] {
					t.Errorf("generated jti %q is short or repeated", got.JTI)
				}
				seen[got.JTI] = true
			}
		})
	}
}

func TestMintAccessTokenExtraDoesNotOverride(t *testing.T) {
	f := getFixture(t)
	for _, alg := range testAlgs {
		t.Run(string(alg), func(t *testing.T) {
			c := accessClaims()
			c.Extra = map[string]any{
				"iss": "https://evil.test", "sub": "admin", "aud": "https://evil.test", "client_id": "evil",
				"jti": "evil", "scope": "admin", "iat": 1, "nbf": 1, "exp": 1 << 40,
			}
			got, err := Verify(mintAccess(t, f, alg, c), f.set, accessOpts())
			if err != nil {
				t.Fatal(err)
			}
			if got.Issuer != testIssuer || got.Subject != testSubject || got.ClientID != testClientID ||
				got.JTI != "jti-fixed" || got.Scope != "openid profile" || len(got.Audience) != 1 || got.Audience[0] != testAudience ||
				*got.IssuedAt != fixedNow.Unix() || *got.NotBefore != fixedNow.Unix() || *got.Expiry != fixedNow.Add(time.Hour).Unix() {
				t.Errorf("Extra overrode registered claims: %+v", got)
			}
		})
	}
}

// AccessClaims.Extra is documented as never overriding the claims above it,
// Scope included; with an empty Scope, Extra["scope"] still becomes the
// token's scope.
func TestMintAccessTokenExtraScopeWithEmptyScope(t *testing.T) {
	f := getFixture(t)
	c := accessClaims()
	c.Scope, c.Extra = "", map[string]any{"scope": "admin"}
	got, err := Verify(mintAccess(t, f, keys.ES256, c), f.set, accessOpts())
	if err != nil {
		t.Fatal(err)
	}
	if got.Scope != "" {
		t.Errorf("scope = %q from Extra, want none", got.Scope)
	}
}

func TestMintErrors(t *testing.T) {
	f := getFixture(t)
	// A set whose keys are all "next" cannot sign.
	var nexts []keys.Key
	for _, alg := range testAlgs {
		nexts = append(nexts, f.next[alg])
	}
	nextOnly, err := keys.NewSet(nexts)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range testAlgs {
		if _, err := MintAccessToken(nextOnly, alg, accessClaims()); err == nil {
			t.Errorf("MintAccessToken(%s) with only a next key succeeded", alg)
		}
		if _, err := MintIDToken(nextOnly, alg, IDClaims{Issuer: testIssuer, IssuedAt: fixedNow, TTL: time.Hour}); err == nil {
			t.Errorf("MintIDToken(%s) with only a next key succeeded", alg)
		}
	}
	for _, alg := range []keys.Algorithm{"HS256", "none", "PS256", ""} {
		if _, err := MintAccessToken(f.set, alg, accessClaims()); err == nil {
			t.Errorf("MintAccessToken(%q) succeeded", alg)
		}
	}
	c := accessClaims()
	c.Extra = map[string]any{"bad": make(chan int)}
	if _, err := MintAccessToken(f.set, keys.ES256, c); err == nil {
		t.Error("MintAccessToken with an unencodable extra claim succeeded")
	}
}

func TestMintIDTokenRoundTrip(t *testing.T) {
	f := getFixture(t)
	authTime := fixedNow.Add(-5 * time.Minute)
	for _, alg := range testAlgs {
		t.Run(string(alg), func(t *testing.T) {
			access := mintAccess(t, f, alg, accessClaims())
			tok, err := MintIDToken(f.set, alg, IDClaims{
				Issuer: testIssuer, Subject: testSubject, Audience: testClientID,
				IssuedAt: fixedNow, TTL: 10 * time.Minute, AuthTime: authTime,
				Nonce: "n-0S6_WzA2Mj", AccessToken: access,
				Claims: map[string]any{"email": "alice@example.test", "iss": "https://evil.test", "aud": "evil"},
			})
			if err != nil {
				t.Fatal(err)
			}
			h := header(t, tok)
			if h.KeyID != f.kid(alg) || h.Algorithm != string(alg) {
				t.Errorf("header kid/alg = %q/%q, want %q/%q", h.KeyID, h.Algorithm, f.kid(alg), alg)
			}
			if typ := h.ExtraHeaders[jose.HeaderType]; typ != TypeIDToken || TypeIDToken != "JWT" {
				t.Errorf("typ = %v, want JWT", typ)
			}

			got, err := Verify(tok, f.set, idOpts())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Issuer != testIssuer || got.Subject != testSubject ||
				len(got.Audience) != 1 || got.Audience[0] != testClientID {
				t.Errorf("claims = %+v", got)
			}
			if *got.IssuedAt != fixedNow.Unix() || *got.Expiry != fixedNow.Add(10*time.Minute).Unix() {
				t.Errorf("iat/exp = %d/%d", *got.IssuedAt, *got.Expiry)
			}
			if got.NotBefore != nil {
				t.Errorf("nbf = %d, id_tokens are minted without nbf", *got.NotBefore)
			}
			if _, ok := got.Raw["aud"].(string); !ok {
				t.Errorf("aud = %#v, want a string", got.Raw["aud"])
			}
			if got.Raw["nonce"] != "n-0S6_WzA2Mj" {
				t.Errorf("nonce = %v", got.Raw["nonce"])
			}
			if got.Raw["auth_time"] != float64(authTime.Unix()) {
				t.Errorf("auth_time = %v, want %d", got.Raw["auth_time"], authTime.Unix())
			}
			if got.Raw["email"] != "alice@example.test" {
				t.Errorf("email = %v", got.Raw["email"])
			}
			if want := independentLeftHalf(alg, access); got.Raw["at_hash"] != want {
				t.Errorf("at_hash = %v, want %s", got.Raw["at_hash"], want)
			}
			// The access token is verifiable too, and the id_token is not one.
			if _, err := Verify(access, f.set, accessOpts()); err != nil {
				t.Errorf("access token: %v", err)
			}
		})
	}
}

func TestMintIDTokenOmitsUnsetClaims(t *testing.T) {
	f := getFixture(t)
	for _, alg := range testAlgs {
		tok, err := MintIDToken(f.set, alg, IDClaims{Issuer: testIssuer, Subject: testSubject, Audience: testClientID, IssuedAt: fixedNow, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Verify(tok, f.set, idOpts())
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		for _, k := range []string{"nonce", "auth_time", "at_hash", "nbf", "jti", "client_id", "scope"} {
			if v, ok := got.Raw[k]; ok {
				t.Errorf("%s: claim %s = %v present", alg, k, v)
			}
		}
	}
}

// at_hash.

// independentLeftHalf is OpenID Connect Core §3.1.3.6 computed without the
// code under test: SHA-256 for ES256/RS256, SHA-512 for Ed25519.
func independentLeftHalf(alg keys.Algorithm, v string) string {
	var sum []byte
	switch alg {
	case keys.ES256, keys.RS256:
		s := sha256.Sum256([]byte(v))
		sum = s[:16]
	case keys.EdDSA:
		s := sha512.Sum512([]byte(v))
		sum = s[:32]
	default:
		panic(alg)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

func TestLeftHalfHash(t *testing.T) {
	values := []string{"", "a", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", strings.Repeat("eyJhbGciOi.", 200), "ünïcødé"}
	for _, alg := range testAlgs {
		for _, v := range values {
			got, err := LeftHalfHash(alg, v)
			if err != nil {
				t.Fatalf("LeftHalfHash(%s): %v", alg, err)
			}
			if want := independentLeftHalf(alg, v); got != want {
				t.Errorf("LeftHalfHash(%s, %.20q) = %s, want %s", alg, v, got, want)
			}
			wantLen := 22 // 16 bytes
			if alg == keys.EdDSA {
				wantLen = 43 // 32 bytes
			}
			if len(got) != wantLen || strings.ContainsAny(got, "+/=") {
				t.Errorf("LeftHalfHash(%s) = %q, want %d unpadded base64url characters", alg, got, wantLen)
			}
		}
	}
	// Known answer from OpenID Connect Core, Appendix A.3 (RS256).
	if got, _ := LeftHalfHash(keys.RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Errorf("OIDC example at_hash = %s, want 77QmUPtjPfzWtF2AnpK9RQ", got)
	}
	for _, alg := range []keys.Algorithm{"HS256", "PS256", "ES384", "none", ""} {
		if _, err := LeftHalfHash(alg, "x"); err == nil {
			t.Errorf("LeftHalfHash(%q) succeeded", alg)
		}
	}
	f := getFixture(t)
	if _, err := MintIDToken(f.set, "HS256", IDClaims{AccessToken: "x"}); err == nil {
		t.Error("MintIDToken with an unknown algorithm succeeded")
	}
}

// Verify: acceptance.

func TestVerifyHandCraftedBaseline(t *testing.T) {
	// The rejection cases below alter one thing of this token, which must
	// verify as is.
	f := getFixture(t)
	for _, alg := range testAlgs {
		tok := signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "at+jwt", baseClaims())
		if _, err := Verify(tok, f.set, accessOpts()); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		// RFC 9068 §4: "application/at+jwt" is the same type.
		tok = signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "application/at+jwt", baseClaims())
		if _, err := Verify(tok, f.set, accessOpts()); err != nil {
			t.Errorf("%s application/at+jwt: %v", alg, err)
		}
		// Keys in state next are published, so tokens they sign verify.
		tok = signWith(t, jose.SignatureAlgorithm(alg), f.next[alg].Private.Key, f.next[alg].ID, "at+jwt", baseClaims())
		if _, err := Verify(tok, f.set, accessOpts()); err != nil {
			t.Errorf("%s next key: %v", alg, err)
		}
	}
}

func TestVerifyOptionalChecks(t *testing.T) {
	f := getFixture(t)
	tok := mintAccess(t, f, keys.ES256, accessClaims())
	idTok, err := MintIDToken(f.set, keys.ES256, IDClaims{Issuer: testIssuer, Subject: testSubject, Audience: testClientID, IssuedAt: fixedNow, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o := accessOpts()
	o.Type, o.Audience = "", ""
	for _, tk := range []string{tok, idTok} {
		if _, err := Verify(tk, f.set, o); err != nil {
			t.Errorf("without Type and Audience: %v", err)
		}
	}
	// Default clock: a token minted now verifies with Now unset.
	c := accessClaims()
	c.IssuedAt = time.Now()
	o = accessOpts()
	o.Now = nil
	if _, err := Verify(mintAccess(t, f, keys.EdDSA, c), f.set, o); err != nil {
		t.Errorf("with the default clock: %v", err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	f := getFixture(t)
	const ttl = time.Hour
	cases := []struct {
		name     string
		issuedAt time.Time // exp = issuedAt + ttl; nbf = iat = issuedAt
		leeway   time.Duration
		ok       bool
	}{
		{"fresh", fixedNow, 0, true},
		{"exp in 1s", fixedNow.Add(1*time.Second - ttl), 0, true},
		{"exp now", fixedNow.Add(-ttl), 0, true},
		{"expired 29s ago, default leeway 30s", fixedNow.Add(-ttl - 29*time.Second), 0, true},
		{"expired 30s ago, default leeway 30s", fixedNow.Add(-ttl - 30*time.Second), 0, false},
		{"expired 31s ago, default leeway 30s", fixedNow.Add(-ttl - 31*time.Second), 0, false},
		{"expired 1h ago", fixedNow.Add(-2 * ttl), 0, false},
		{"nbf in 29s, default leeway 30s", fixedNow.Add(29 * time.Second), 0, true},
		{"nbf in 30s, default leeway 30s", fixedNow.Add(30 * time.Second), 0, true},
		{"nbf in 31s, default leeway 30s", fixedNow.Add(31 * time.Second), 0, false},
		{"nbf in 5m", fixedNow.Add(5 * time.Minute), 0, false},
		{"expired 90s ago, leeway 2m", fixedNow.Add(-ttl - 90*time.Second), 2 * time.Minute, true},
		{"expired 121s ago, leeway 2m", fixedNow.Add(-ttl - 121*time.Second), 2 * time.Minute, false},
		{"expired 10s ago, leeway 5s", fixedNow.Add(-ttl - 10*time.Second), 5 * time.Second, false},
		{"nbf in 10s, leeway 5s", fixedNow.Add(10 * time.Second), 5 * time.Second, false},
	}
	for _, alg := range testAlgs {
		for _, tc := range cases {
			t.Run(string(alg)+"/"+tc.name, func(t *testing.T) {
				c := accessClaims()
				c.IssuedAt, c.TTL = tc.issuedAt, ttl
				o := accessOpts()
				o.Leeway = tc.leeway
				_, err := Verify(mintAccess(t, f, alg, c), f.set, o)
				if tc.ok && err != nil {
					t.Errorf("rejected: %v", err)
				}
				if !tc.ok {
					if err == nil {
						t.Error("accepted")
					} else if !errors.Is(err, ErrInvalid) {
						t.Errorf("error %v does not wrap ErrInvalid", err)
					}
				}
			})
		}
	}
}

// TestVerifyAllowExpired: an expired token verifies with AllowExpired (a
// logout request's id_token_hint); every other check still holds.
func TestVerifyAllowExpired(t *testing.T) {
	f := getFixture(t)
	c := accessClaims()
	c.IssuedAt = fixedNow.Add(-48 * time.Hour)
	o := accessOpts()
	o.AllowExpired = true
	if _, err := Verify(mintAccess(t, f, keys.ES256, c), f.set, o); err != nil {
		t.Errorf("expired token with AllowExpired: %v", err)
	}
	c.IssuedAt = fixedNow.Add(time.Hour)
	if _, err := Verify(mintAccess(t, f, keys.ES256, c), f.set, o); err == nil {
		t.Error("a token issued in the future verified with AllowExpired")
	}
	o.Issuer = "https://other.example"
	c.IssuedAt = fixedNow.Add(-48 * time.Hour)
	if _, err := Verify(mintAccess(t, f, keys.ES256, c), f.set, o); err == nil {
		t.Error("another issuer's token verified with AllowExpired")
	}
}

// Verify: rejections.

type rejectCase struct {
	name string
	// only restricts the case to one algorithm; empty runs it for all.
	only  keys.Algorithm
	token func(t *testing.T, f *fixture, alg keys.Algorithm) string
	opts  func(o *VerifyOptions)
	// reason is a substring of the expected error: the token must be
	// rejected for the intended reason, not an incidental one.
	reason string
}

const (
	reasonMalformed = "malformed or disallowed algorithm"
	reasonSignature = "bad signature"
	reasonType      = "wrong token type"
	reasonKID       = "unknown kid"
)

func handToken(claims func(map[string]any)) func(t *testing.T, f *fixture, alg keys.Algorithm) string {
	return func(t *testing.T, f *fixture, alg keys.Algorithm) string {
		return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "at+jwt", withClaims(claims))
	}
}

func mintedToken(mod func(c *AccessClaims)) func(t *testing.T, f *fixture, alg keys.Algorithm) string {
	return func(t *testing.T, f *fixture, alg keys.Algorithm) string {
		c := accessClaims()
		if mod != nil {
			mod(&c)
		}
		return mintAccess(t, f, alg, c)
	}
}

func literal(s string) func(*testing.T, *fixture, keys.Algorithm) string {
	return func(*testing.T, *fixture, keys.Algorithm) string { return s }
}

func pkixDER(t *testing.T, pub any) []byte {
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hmacConfusion signs an HS256 token whose secret is a representation of the
// public key of alg, carrying that key's kid: a verifier that picks the
// algorithm from the header would accept it.
func hmacConfusion(secret func(t *testing.T, f *fixture, alg keys.Algorithm) []byte) func(*testing.T, *fixture, keys.Algorithm) string {
	return func(t *testing.T, f *fixture, alg keys.Algorithm) string {
		return signWith(t, jose.HS256, secret(t, f, alg), f.kid(alg), "at+jwt", baseClaims())
	}
}

func noneToken(alg string) func(*testing.T, *fixture, keys.Algorithm) string {
	return func(t *testing.T, f *fixture, a keys.Algorithm) string {
		return b64JSON(t, map[string]any{"alg": alg, "kid": f.kid(a), "typ": "at+jwt"}) + "." + b64JSON(t, baseClaims()) + "."
	}
}

func rejectCases() []rejectCase {
	return []rejectCase{
		// Claims.
		{name: "wrong issuer", token: mintedToken(nil), opts: func(o *VerifyOptions) { o.Issuer = "https://other-issuer.test" }, reason: "wrong issuer"},
		{name: "issuer differs by trailing slash", token: mintedToken(func(c *AccessClaims) { c.Issuer += "/" }), reason: "wrong issuer"},
		{name: "missing issuer", token: handToken(func(c map[string]any) { delete(c, "iss") }), reason: "wrong issuer"},
		{name: "wrong audience", token: mintedToken(nil), opts: func(o *VerifyOptions) { o.Audience = "https://other-api.test" }, reason: "wrong audience"},
		{name: "wrong audience among several", token: mintedToken(func(c *AccessClaims) { c.Audience = []string{"a", "b"} }), reason: "wrong audience"},
		{name: "missing audience", token: handToken(func(c map[string]any) { delete(c, "aud") }), reason: "wrong audience"},
		{name: "audience not a string", token: handToken(func(c map[string]any) { c["aud"] = 42 }), reason: "malformed claims"},
		{name: "expired beyond leeway", token: mintedToken(func(c *AccessClaims) { c.IssuedAt = fixedNow.Add(-2 * time.Hour) }), reason: "expired"},
		{name: "not yet valid", token: handToken(func(c map[string]any) { c["nbf"] = fixedNow.Add(5 * time.Minute).Unix() }), reason: "not valid yet"},
		{name: "issued in the future", token: handToken(func(c map[string]any) {
			delete(c, "nbf")
			c["iat"] = fixedNow.Add(5 * time.Minute).Unix()
		}), reason: "issued in the future"},
		{name: "missing exp", token: handToken(func(c map[string]any) { delete(c, "exp") }), reason: "no expiry"},
		{name: "null exp", token: handToken(func(c map[string]any) { c["exp"] = nil }), reason: "no expiry"},
		{name: "exp as string", token: handToken(func(c map[string]any) { c["exp"] = "9999999999" }), reason: "malformed claims"},
		{name: "exp fractional", token: handToken(func(c map[string]any) { c["exp"] = 9999999999.5 }), reason: "malformed claims"},
		{name: "claims not an object", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "at+jwt", []byte(`["iss"]`))
		}, reason: "malformed claims"},
		{name: "claims not JSON", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "at+jwt", []byte("hello"))
		}, reason: "malformed claims"},

		// Token type.
		{name: "id_token as access token", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			tok, err := MintIDToken(f.set, alg, IDClaims{Issuer: testIssuer, Subject: testSubject, Audience: testClientID, IssuedAt: fixedNow, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, opts: func(o *VerifyOptions) { o.Audience = testClientID }, reason: reasonType},
		{name: "access token as id_token", token: mintedToken(func(c *AccessClaims) { c.Audience = []string{testClientID} }),
			opts: func(o *VerifyOptions) { *o = idOpts() }, reason: reasonType},
		{name: "no typ", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "", baseClaims())
		}, reason: reasonType},
		{name: "other typ", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(alg), "application/jwt", baseClaims())
		}, reason: reasonType},

		// Keys.
		{name: "unknown kid", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			k, err := keys.GenerateKey(alg, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			return signWith(t, jose.SignatureAlgorithm(alg), k.Private.Key, k.ID, "at+jwt", baseClaims())
		}, reason: reasonKID},
		{name: "no kid", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), "", "at+jwt", baseClaims())
		}, reason: reasonKID},
		{name: "different key with the same kid", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			k, err := keys.GenerateKey(alg, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			return signWith(t, jose.SignatureAlgorithm(alg), k.Private.Key, f.kid(alg), "at+jwt", baseClaims())
		}, reason: reasonSignature},
		{name: "kid of a key of another algorithm", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			other := keys.ES256
			if alg == keys.ES256 {
				other = keys.EdDSA
			}
			return signWith(t, jose.SignatureAlgorithm(alg), f.priv(alg), f.kid(other), "at+jwt", baseClaims())
		}, reason: "algorithm does not match the key"},

		// Algorithms.
		{name: "alg none", token: noneToken("none"), reason: reasonMalformed},
		{name: "alg None", token: noneToken("None"), reason: reasonMalformed},
		{name: "alg NONE", token: noneToken("NONE"), reason: reasonMalformed},
		{name: "alg none with the real signature", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			parts := strings.Split(mintAccess(t, f, alg, accessClaims()), ".")
			return b64JSON(t, map[string]any{"alg": "none", "kid": f.kid(alg), "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2]
		}, reason: reasonMalformed},
		{name: "missing alg", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return b64JSON(t, map[string]any{"kid": f.kid(alg), "typ": "at+jwt"}) + "." + b64JSON(t, baseClaims()) + "."
		}, reason: reasonMalformed},
		{name: "HS256 keyed with the public key (PKIX DER)", token: hmacConfusion(func(t *testing.T, f *fixture, alg keys.Algorithm) []byte {
			return pkixDER(t, f.pub(alg))
		}), reason: reasonMalformed},
		{name: "HS256 keyed with the public key (PEM)", token: hmacConfusion(func(t *testing.T, f *fixture, alg keys.Algorithm) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER(t, f.pub(alg))})
		}), reason: reasonMalformed},
		{name: "HS256 keyed with the public JWK", token: hmacConfusion(func(t *testing.T, f *fixture, alg keys.Algorithm) []byte {
			jwk, _ := f.set.PublicKey(f.kid(alg))
			b, err := jwk.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}), reason: reasonMalformed},
		{name: "HS256 keyed with the RSA public key (PKCS#1 DER)", only: keys.RS256, token: hmacConfusion(func(t *testing.T, f *fixture, alg keys.Algorithm) []byte {
			return x509.MarshalPKCS1PublicKey(f.pub(alg).(*rsa.PublicKey))
		}), reason: reasonMalformed},
		{name: "HS256 keyed with the raw Ed25519 public key", only: keys.EdDSA, token: hmacConfusion(func(t *testing.T, f *fixture, alg keys.Algorithm) []byte {
			return []byte(f.pub(alg).(ed25519.PublicKey))
		}), reason: reasonMalformed},
		{name: "PS256 with the RSA key", only: keys.RS256, token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.PS256, f.priv(alg), f.kid(alg), "at+jwt", baseClaims())
		}, reason: reasonMalformed},
		{name: "RS512 with the RSA key", only: keys.RS256, token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return signWith(t, jose.RS512, f.priv(alg), f.kid(alg), "at+jwt", baseClaims())
		}, reason: reasonMalformed},
		{name: "ES384 carrying the kid", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return signWith(t, jose.ES384, k, f.kid(alg), "at+jwt", baseClaims())
		}, reason: reasonMalformed},

		// Integrity.
		{name: "tampered payload", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return flipChar(mintAccess(t, f, alg, accessClaims()), 1)
		}, reason: reasonSignature},
		{name: "tampered signature", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			return flipChar(mintAccess(t, f, alg, accessClaims()), 2)
		}, reason: reasonSignature},
		{name: "payload swapped in", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			parts := strings.Split(mintAccess(t, f, alg, accessClaims()), ".")
			parts[1] = b64JSON(t, withClaims(func(c map[string]any) { c["scope"] = "admin" }))
			return strings.Join(parts, ".")
		}, reason: reasonSignature},
		{name: "header swapped in", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			// Same alg and kid, typ changed: the signature covers the header.
			parts := strings.Split(mintAccess(t, f, alg, accessClaims()), ".")
			parts[0] = b64JSON(t, map[string]any{"alg": string(alg), "kid": f.kid(alg), "typ": "application/at+jwt"})
			return strings.Join(parts, ".")
		}, reason: reasonSignature},
		{name: "signature stripped", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			tok := mintAccess(t, f, alg, accessClaims())
			return tok[:strings.LastIndex(tok, ".")+1]
		}, reason: reasonSignature},
		{name: "two signatures (JSON serialization)", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			s, err := jose.NewMultiSigner([]jose.SigningKey{
				{Algorithm: jose.SignatureAlgorithm(alg), Key: f.priv(alg)},
				{Algorithm: jose.SignatureAlgorithm(alg), Key: f.priv(alg)},
			}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", f.kid(alg)))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(baseClaims())
			jws, err := s.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			return jws.FullSerialize()
		}, reason: reasonMalformed},

		// Garbage.
		{name: "empty string", token: literal(""), reason: reasonMalformed},
		{name: "whitespace", token: literal(" \n\t"), reason: reasonMalformed},
		{name: "garbage", token: literal("not a token"), reason: reasonMalformed},
		{name: "one dot", token: literal("eyJhbGciOiJFUzI1NiJ9.e30"), reason: reasonMalformed},
		{name: "dots only", token: literal(".."), reason: reasonMalformed},
		{name: "four parts", token: literal("a.b.c.d"), reason: reasonMalformed},
		{name: "five parts of garbage", token: literal("a.b.c.d.e"), reason: reasonMalformed},
		{name: "bad base64", token: literal("!!!.@@@.###"), reason: reasonMalformed},
		{name: "header not JSON", token: literal(base64.RawURLEncoding.EncodeToString([]byte("hello")) + ".e30.c2ln"), reason: reasonMalformed},
		{name: "JSON object", token: literal(`{"payload":"e30"}`), reason: reasonMalformed},
		{name: "JWE (5 parts)", token: func(t *testing.T, f *fixture, _ keys.Algorithm) string {
			enc, err := jose.NewEncrypter(jose.A256GCM,
				jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: f.pub(keys.RS256), KeyID: f.kid(keys.RS256)},
				(&jose.EncrypterOptions{}).WithType("at+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(baseClaims())
			obj, err := enc.Encrypt(payload)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(tok, "."); n != 4 {
				t.Fatalf("JWE has %d dots", n)
			}
			return tok
		}, reason: reasonMalformed},
		{name: "JWE-looking header with dir", token: func(t *testing.T, f *fixture, alg keys.Algorithm) string {
			h := b64JSON(t, map[string]any{"alg": "dir", "enc": "A128GCM", "kid": f.kid(alg)})
			return h + "..AAAAAAAAAAAAAAAA." + b64JSON(t, baseClaims()) + ".AAAAAAAAAAAAAAAAAAAAAA"
		}, reason: reasonMalformed},
	}
}

func TestVerifyRejects(t *testing.T) {
	f := getFixture(t)
	for _, tc := range rejectCases() {
		for _, alg := range testAlgs {
			if tc.only != "" && tc.only != alg {
				continue
			}
			t.Run(tc.name+"/"+string(alg), func(t *testing.T) {
				tok := tc.token(t, f, alg)
				o := accessOpts()
				if tc.opts != nil {
					tc.opts(&o)
				}
				_, err := Verify(tok, f.set, o)
				if err == nil {
					t.Fatalf("accepted %q", tok)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("error = %v, want the reason %q", err, tc.reason)
				}
			})
		}
	}
}

// Verify is documented as checking a compact JWS; the JWS JSON serialization
// of a valid token is another spelling of it and should be refused.
func TestVerifyRejectsJSONSerialization(t *testing.T) {
	f := getFixture(t)
	for _, alg := range testAlgs {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: f.priv(alg)},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", f.kid(alg)))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(baseClaims())
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(jws.FullSerialize(), f.set, accessOpts()); err == nil {
			t.Errorf("%s: JSON serialization accepted", alg)
		}
	}
}

func TestMintVerifyConcurrent(t *testing.T) {
	f := getFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 24 {
		alg := testAlgs[i%len(testAlgs)]
		wg.Go(func() {
			for range 5 {
				c := accessClaims()
				c.JTI = ""
				tok, err := MintAccessToken(f.set, alg, c)
				if err == nil {
					_, err = Verify(tok, f.set, accessOpts())
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", alg, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Benchmarks.

func BenchmarkMintAccessToken(b *testing.B) {
	f := getFixture(b)
	for _, alg := range testAlgs {
		b.Run(string(alg), func(b *testing.B) {
			c := accessClaims()
			c.JTI = "" // generated per token, as in production
			b.ReportAllocs()
			for b.Loop() {
				if _, err := MintAccessToken(f.set, alg, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyAccessToken(b *testing.B) {
	f := getFixture(b)
	for _, alg := range testAlgs {
		b.Run(string(alg), func(b *testing.B) {
			tok := mintAccess(b, f, alg, accessClaims())
			o := accessOpts()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(tok, f.set, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

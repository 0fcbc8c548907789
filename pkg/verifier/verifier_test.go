package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

var epoch = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func newVerifier(t testing.TB, iss *testIssuer, mod func(*verifier.Config)) *verifier.Verifier {
	t.Helper()
	cfg := verifier.Config{
		Issuer: iss.URL, Audience: []string{"https://api.example.com"},
		Clock: clocktesting.NewFakePassiveClock(epoch), MinRefetchInterval: time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// unsigned builds "alg: none" over claims (RFC 7519 §6).
func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "at+jwt"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// hmacWithPublicKey is the algorithm-confusion attack: HS256 keyed with the
// bytes of the issuer's public key.
func hmacWithPublicKey(t *testing.T, iss *testIssuer, claims map[string]any) string {
	iss.mu.Lock()
	priv := iss.keys[iss.signer]
	pub := priv.Public()
	iss.mu.Unlock()
	secret, _ := pub.MarshalJSON()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", pub.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.Signed(s).Claims(claims).Serialize()
	return tok
}

func TestVerifyRefusals(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss, nil)
	// A key the issuer never published, with a kid it does publish.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forge := func(c map[string]any) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: stranger},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", iss.signer))
		tok, _ := jwt.Signed(s).Claims(c).Serialize()
		return tok
	}
	with := func(k string, val any) map[string]any {
		c := iss.claims(epoch)
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid", iss.sign(iss.claims(epoch), "at+jwt"), nil},
		{"typ application/at+jwt", iss.sign(iss.claims(epoch), "application/AT+JWT"), nil},
		{"audience among several", iss.sign(with("aud", []string{"other", "https://api.example.com"}), "at+jwt"), nil},
		{"expired within leeway", iss.sign(with("exp", epoch.Add(-20*time.Second).Unix()), "at+jwt"), nil},
		{"another audience", iss.sign(with("aud", "https://other.example.com"), "at+jwt"), verifier.ErrInvalidToken},
		{"no audience", iss.sign(with("aud", nil), "at+jwt"), verifier.ErrInvalidToken},
		{"another issuer", iss.sign(with("iss", "https://evil.example.com"), "at+jwt"), verifier.ErrInvalidToken},
		{"expired", iss.sign(with("exp", epoch.Add(-time.Minute).Unix()), "at+jwt"), verifier.ErrInvalidToken},
		{"no expiry", iss.sign(with("exp", nil), "at+jwt"), verifier.ErrInvalidToken},
		{"not yet valid", iss.sign(with("nbf", epoch.Add(time.Minute).Unix()), "at+jwt"), verifier.ErrInvalidToken},
		{"issued in the future", iss.sign(with("iat", epoch.Add(time.Minute).Unix()), "at+jwt"), verifier.ErrInvalidToken},
		{"no client_id", iss.sign(with("client_id", nil), "at+jwt"), verifier.ErrInvalidToken},
		{"id_token (typ JWT)", iss.sign(iss.claims(epoch), "JWT"), verifier.ErrInvalidToken},
		{"no typ", iss.sign(iss.claims(epoch), ""), verifier.ErrInvalidToken},
		{"alg none", unsigned(iss.claims(epoch)), verifier.ErrInvalidToken},
		{"HS256 keyed with the public key", hmacWithPublicKey(t, iss, iss.claims(epoch)), verifier.ErrInvalidToken},
		{"signed by a stranger with a known kid", forge(iss.claims(epoch)), verifier.ErrInvalidToken},
		{"refresh token", "twr_0123456789abcdef_secret", verifier.ErrInvalidToken},
		{"empty", "", verifier.ErrInvalidToken},
		{"garbage", "a.b.c", verifier.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject != "shop.billing" || c.ClientID != "shop.billing" || !c.HasScope("invoices.read") {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := iss.jwksFetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1: no refusal above should cause a fetch", n)
	}
}

func TestVerifyAlgorithmAllowlist(t *testing.T) {
	iss := newIssuer(t)
	rsKid := iss.rotate(jose.RS256)
	rs := iss.sign(iss.claims(epoch), "at+jwt", rsKid)

	// Discovery advertises ES256 for access tokens and RS256 for id_tokens.
	if _, err := newVerifier(t, iss, nil).Verify(context.Background(), rs); err != nil {
		t.Errorf("RS256 refused with the discovery allowlist: %v", err)
	}
	// Configured to ES256 only.
	v := newVerifier(t, iss, func(c *verifier.Config) { c.Algorithms = []string{"ES256"} })
	if _, err := v.Verify(context.Background(), rs); !errors.Is(err, verifier.ErrInvalidToken) {
		t.Errorf("RS256 accepted by an ES256-only verifier: %v", err)
	}
	// none and HMAC are dropped even when configured; nothing left is an error.
	_, err := verifier.New(context.Background(), verifier.Config{Issuer: iss.URL, Audience: []string{"a"}, Algorithms: []string{"none", "HS256"}})
	if err == nil || !strings.Contains(err.Error(), "no acceptable signing algorithm") {
		t.Errorf("err = %v", err)
	}
}

func TestNewChecksConfigAndDiscovery(t *testing.T) {
	iss := newIssuer(t)
	tests := []struct {
		name string
		cfg  verifier.Config
		want string
	}{
		{"no audience", verifier.Config{Issuer: iss.URL}, "Audience"},
		{"issuer differs from discovery", verifier.Config{Issuer: iss.URL + "/", Audience: []string{"a"}}, "names issuer"},
		{"unreachable", verifier.Config{Issuer: "http://127.0.0.1:1", Audience: []string{"a"}}, "fetch"},
		{"tenant claim without tenant", verifier.Config{Issuer: iss.URL, Audience: []string{"a"}, TenantClaim: "tenant"}, "Tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := verifier.New(context.Background(), tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestVerifyTenantClaim(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss, func(c *verifier.Config) { c.TenantClaim, c.Tenant = "tokenwarden.dev/namespace", "shop" })
	tests := []struct {
		name   string
		tenant any
		ok     bool
	}{
		{"same tenant", "shop", true},
		{"another tenant", "evil", false},
		{"no tenant claim", nil, false},
		{"not a string", []string{"shop"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := iss.claims(epoch)
			if tt.tenant != nil {
				c["tokenwarden.dev/namespace"] = tt.tenant
			}
			_, err := v.Verify(context.Background(), iss.sign(c, "at+jwt"))
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestVerifyIntrospection(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss, func(c *verifier.Config) {
		c.Introspection = &verifier.Introspection{ClientID: "api", ClientSecret: "api-secret"}
	})
	claims := iss.claims(epoch)
	tok := iss.sign(claims, "at+jwt")
	iss.setActive(claims["jti"].(string), true)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("active token refused: %v", err)
	}
	// Revoked: refused at once, though the JWT itself is still valid.
	iss.setActive(claims["jti"].(string), false)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrInvalidToken) {
		t.Fatalf("revoked token: err = %v", err)
	}
	// A bad local token never reaches the endpoint.
	before := iss.introspections.Load()
	_, _ = v.Verify(context.Background(), unsigned(claims))
	if iss.introspections.Load() != before {
		t.Error("an unsigned token was sent to introspection")
	}
	// Wrong credentials of the resource server: unavailable, not a guess.
	v = newVerifier(t, iss, func(c *verifier.Config) {
		c.Introspection = &verifier.Introspection{ClientID: "api", ClientSecret: "wrong"}
	})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestClaimsDecode(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss, nil)
	c := iss.claims(epoch)
	c["preferred_username"], c["groups"] = "alice", []string{"reporting"}
	claims, err := v.Verify(context.Background(), iss.sign(c, "at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	var extra struct {
		Groups []string `json:"groups"`
	}
	if err := claims.Decode(&extra); err != nil || len(extra.Groups) != 1 || claims.PreferredUsername != "alice" {
		t.Errorf("decode: %v %+v %+v", err, extra, claims)
	}
}

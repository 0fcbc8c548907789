package tokenserver_test

// Attackers' tests (issue 17): an overlap secret after its expiry, bearer
// tokens of the wrong type, expired or with a wrong algorithm at userinfo and
// introspection, and a user of another namespace signing in. Each asserts
// status and error code, never message text.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// The previous client secret of a rotation (client_secret_previous) works
// during the overlap only: once its expiry passed it is refused although
// the directory still holds it, at every endpoint that authenticates
// clients.
func TestClientSecretPreviousExpires(t *testing.T) {
	f := newFixture(t)
	id, first := f.Client("svc", v1alpha1.OAuthClientSpec{Scopes: []string{"api.read"}})
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	end := clk.Now().Add(10 * time.Minute)
	current, previous, err := h.RotateClientSecret(f.NS, "svc", end)
	if err != nil || previous != first {
		t.Fatalf("rotate: previous %q (want the first secret), %v", previous, err)
	}
	authenticate := map[string]func(secret string) response{
		"token, Basic": func(s string) response {
			return testhttp.Post(t, base+"/oauth/token", formType, form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(id, s))
		},
		"token, body": func(s string) response {
			return testhttp.Post(t, base+"/oauth/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", s))
		},
		"introspection": func(s string) response {
			return testhttp.Post(t, base+"/oauth/introspect", formType, form("token", "x"), "Authorization", testhttp.Basic(id, s))
		},
		"revocation": func(s string) response {
			return testhttp.Post(t, base+"/oauth/revoke", formType, form("token", "x", "client_id", id, "client_secret", s))
		},
	}
	check := func(t *testing.T, when string, secret string, accepted bool) {
		t.Helper()
		for name, send := range authenticate {
			r := send(secret)
			switch {
			case accepted && r.Status != http.StatusOK:
				t.Errorf("%s, %s: %d %s, want 200", when, name, r.Status, r.Raw)
			case !accepted && (r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client"):
				t.Errorf("%s, %s: %d %s, want 401 invalid_client", when, name, r.Status, r.Raw)
			}
		}
	}
	t.Run("during the overlap", func(t *testing.T) {
		check(t, "current secret", current, true)
		check(t, "previous secret", previous, true)
		clk.SetTime(end.Add(-2 * time.Second))
		check(t, "previous secret just before its expiry", previous, true)
	})
	t.Run("after the overlap", func(t *testing.T) {
		clk.SetTime(end.Add(2 * time.Second))
		c, err := h.Mem.Directory.ClientByName(t.Context(), f.NS, "svc")
		if err != nil || c.PreviousSecret != previous {
			t.Fatalf("the directory no longer holds the previous secret (%v): the test proves nothing", err)
		}
		check(t, "previous secret after its expiry", previous, false)
		check(t, "current secret", current, true)
		rqWantBasicChallenge(t, authenticate["token, Basic"](previous))
	})
}

// forger re-signs the claims of real tokens with the suite's keys.
type forger struct {
	t    *testing.T
	keys []keys.Key
}

// key returns the active key of alg.
func (fg forger) key(alg keys.Algorithm) keys.Key {
	fg.t.Helper()
	for _, k := range fg.keys {
		if k.Algorithm == alg && k.State == keys.StateActive {
			return k
		}
	}
	fg.t.Fatalf("no active %s key", alg)
	return keys.Key{}
}

// sign signs payload with k under alg, with the kid and typ headers (no typ
// header when typ is empty).
func (fg forger) sign(k keys.Key, alg jose.SignatureAlgorithm, kid, typ string, payload []byte) string {
	fg.t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.Private.Key}, opts)
	if err != nil {
		fg.t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		fg.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		fg.t.Fatal(err)
	}
	return out
}

// unsigned builds header.payload.signature from a header map, a payload and
// a signing function over the signing input.
func unsigned(header map[string]any, payload []byte, sig func(input string) []byte) string {
	hb, _ := json.Marshal(header)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig(input))
}

// jwtPart decodes part i (0 header, 1 payload) of a compact JWT.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Userinfo and introspection take only access tokens that the server signed
// as access tokens (typ at+jwt), with the algorithm of the key named by kid,
// and not expired: an id_token, a token of typ JWT or without typ (signed
// with the server's own key), an expired one, or one whose algorithm is not
// its key's (none, HS256 keyed with the public key, RS256 naming the ES256
// key) is refused: userinfo 401 invalid_token, introspection {"active":false}.
func TestBearerTokenTypeAlgorithmAndExpiry(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("web", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword},
		Scopes:     []string{"openid", "profile"},
	})
	_, pw := f.User("frank", v1alpha1.OAuthUserSpec{})
	clk := clocktesting.NewFakeClock(time.Now())
	base := startServer(t, tokenserver.Options{Clock: clk})
	r := testhttp.Post(t, base+"/oauth/token", formType, form("grant_type", "password", "username", "frank", "password", pw, "scope", "openid profile"), "Authorization", testhttp.Basic(id, secret))
	access, _ := r.Body["access_token"].(string)
	idToken, _ := r.Body["id_token"].(string)
	if r.Status != http.StatusOK || access == "" || idToken == "" {
		t.Fatalf("password grant: %d %s", r.Status, r.Raw)
	}

	fg := forger{t: t, keys: h.Keys.Stored()}
	hdr := jwtPart(t, access, 0)
	kid, _ := hdr["kid"].(string)
	es := fg.key(keys.ES256)
	if hdr["typ"] != keys.TypeAccessToken || hdr["alg"] != "ES256" || kid != es.ID {
		t.Fatalf("access token header %v: the forgeries below assume an ES256 at+jwt by the active key", hdr)
	}
	payload, _ := json.Marshal(jwtPart(t, access, 1))
	expired := jwtPart(t, access, 1)
	expired["iat"], expired["nbf"], expired["exp"] = clk.Now().Add(-2*time.Hour).Unix(), clk.Now().Add(-2*time.Hour).Unix(), clk.Now().Add(-time.Hour).Unix()
	expiredPayload, _ := json.Marshal(expired)
	pub, _ := json.Marshal(es.Private.Public())

	userinfo := func(tok string) response {
		return testhttp.Send(t, http.MethodGet, base+"/userinfo", "", nil, "Authorization", "Bearer "+tok)
	}
	introspect := func(tok string) response {
		return testhttp.Post(t, base+"/oauth/introspect", formType, form("token", tok), "Authorization", testhttp.Basic(id, secret))
	}
	// The forger's own path is sound: the same claims re-signed as the
	// server signs them are accepted.
	for name, tok := range map[string]string{"the access token": access, "re-signed as at+jwt": fg.sign(es, jose.ES256, kid, keys.TypeAccessToken, payload)} {
		if u, i := userinfo(tok), introspect(tok); u.Status != http.StatusOK || i.Body["active"] != true {
			t.Fatalf("%s: userinfo %d %s, introspection %s", name, u.Status, u.Raw, i.Raw)
		}
	}

	rs := fg.key(keys.RS256)
	for name, tok := range map[string]string{
		"id_token":                              idToken,
		"typ JWT, signed with the server's key": fg.sign(es, jose.ES256, kid, "JWT", payload),
		"no typ, signed with the server's key":  fg.sign(es, jose.ES256, kid, "", payload),
		"typ at+jwt under another content type": fg.sign(es, jose.ES256, kid, "application/at+jwt+x", payload),
		"expired, signed with the server's key": fg.sign(es, jose.ES256, kid, keys.TypeAccessToken, expiredPayload),
		"alg none": unsigned(map[string]any{"alg": "none", "typ": keys.TypeAccessToken, "kid": kid}, payload,
			func(string) []byte { return nil }),
		"HS256 keyed with the public key": unsigned(map[string]any{"alg": "HS256", "typ": keys.TypeAccessToken, "kid": kid}, payload,
			func(in string) []byte { m := hmac.New(sha256.New, pub); m.Write([]byte(in)); return m.Sum(nil) }),
		"RS256 naming the ES256 key": fg.sign(rs, jose.RS256, kid, keys.TypeAccessToken, payload),
	} {
		t.Run(name, func(t *testing.T) {
			u := userinfo(tok)
			if h := u.Header.Get("WWW-Authenticate"); u.Status != http.StatusUnauthorized || !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, `error="invalid_token"`) {
				t.Errorf("userinfo: %d, WWW-Authenticate %q, %s; want 401 invalid_token", u.Status, h, u.Raw)
			}
			rqInactive(t, introspect(tok))
		})
	}

	t.Run("expired by the clock", func(t *testing.T) {
		clk.Step(61 * time.Minute)
		u := userinfo(access)
		if h := u.Header.Get("WWW-Authenticate"); u.Status != http.StatusUnauthorized || !strings.Contains(h, `error="invalid_token"`) {
			t.Errorf("userinfo: %d, WWW-Authenticate %q; want 401 invalid_token", u.Status, h)
		}
		rqInactive(t, introspect(access))
	})
}

// A user exists only in another namespace: no client of this namespace
// signs it in, whatever the username names (the password is right: the same
// user signs in through a client of its own namespace).
func TestUserOfAnotherNamespaceCannotSignIn(t *testing.T) {
	f, elsewhere := newFixture(t), newFixture(t)
	spec := v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}}
	id, secret := f.Client("app", spec)
	theirs, theirSecret := elsewhere.Client("app", spec)
	_, pw := elsewhere.User("mallory", v1alpha1.OAuthUserSpec{})
	// Failed sign-ins count against the source address; a server of its own
	// keeps them off the suite's budget.
	base := startServer(t, tokenserver.Options{})
	signIn := func(path, username, clientID, clientSecret string) response {
		return testhttp.Post(t, base+path, formType, form("grant_type", "password", "username", username, "password", pw), "Authorization", testhttp.Basic(clientID, clientSecret))
	}
	if r := signIn("/oauth/token", "mallory", theirs, theirSecret); r.Status != http.StatusOK {
		t.Fatalf("mallory through a client of her namespace: %d %s", r.Status, r.Raw)
	}
	for _, c := range []struct{ name, path, username string }{
		{"username", "/oauth/token", "mallory"},
		{"namespace/username", "/oauth/token", elsewhere.NS + "/mallory"},
		{"username@namespace", "/oauth/token", "mallory@" + elsewhere.NS},
		{"namespace.username", "/oauth/token", elsewhere.NS + ".mallory"},
		{"per-client URL", "/clients/" + f.NS + "/app/token", "mallory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := signIn(c.path, c.username, id, secret)
			if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
				t.Fatalf("%d %s, want 400 invalid_grant", r.Status, r.Raw)
			}
		})
	}
}

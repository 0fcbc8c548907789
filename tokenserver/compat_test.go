package tokenserver_test

// Serving existing clients unchanged: token path templates naming the
// client, alias paths held by a client as its default, and the per-client
// and per-path response profile (issued_at, the user object, the error
// style). Each API style is replayed byte for byte as its clients send it.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// cpServer starts a replica over the suite's stores with these aliases and
// no --default-client.
func cpServer(t *testing.T, aliases ...string) string {
	t.Helper()
	return h.StartReplica(t, func(o *tokenserver.Options) {
		o.TokenPathAliases = aliases
		o.DefaultClient = nil
	})
}

// cpPost posts a raw body to base+path.
func cpPost(t *testing.T, base, path, contentType, body string, header ...string) response {
	t.Helper()
	return testhttp.Post(t, base+path, contentType, body, header...)
}

// cpHold records that the client namespace/name holds paths as its
// defaults, as the OAuthClient controller leaves it, and releases them when
// the test ends (the stores are shared by the whole suite).
func cpHold(t *testing.T, namespace, name string, paths ...string) {
	t.Helper()
	set := func(paths []string) {
		if _, err := h.ChangeClient(namespace, name, func(c *v1alpha1.OAuthClient) {
			if c.Spec.Compatibility == nil {
				c.Spec.Compatibility = &v1alpha1.Compatibility{}
			}
			c.Spec.Compatibility.DefaultForPaths = paths
			c.Status.Compatibility = &v1alpha1.CompatibilityStatus{DefaultForPaths: paths}
		}); err != nil {
			t.Fatal(err)
		}
	}
	set(paths)
	t.Cleanup(func() { h.Mem.Directory.DeleteClient(namespace, name) })
}

// cpWantDetailError asserts an error in the detail style: the RFC 6749
// members and detail holding the description.
func cpWantDetailError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Body["error"] != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.Status, r.Raw)
	}
	d, _ := r.Body["detail"].(string)
	if d == "" || d != r.Body["error_description"] {
		t.Fatalf("detail %q, want the error_description: %s", d, r.Raw)
	}
	rqWantJSONNoStore(t, r)
}

// cpIssuedAt asserts issued_at is Unix milliseconds of about now.
func cpIssuedAt(t *testing.T, body map[string]any) {
	t.Helper()
	ms, ok := body["issued_at"].(float64)
	if now := float64(time.Now().UnixMilli()); !ok || ms < now-60_000 || ms > now+1000 {
		t.Fatalf("issued_at %v, want Unix milliseconds of now", body["issued_at"])
	}
}

// TestUsergridStyleTemplateServesTwoAppsInTwoNamespaces replays an Apache
// Usergrid SDK's sign-in, a JSON password grant to /{org}/{app}/token, for
// two apps of the same name in two namespaces at once.
func TestUsergridStyleTemplateServesTwoAppsInTwoNamespaces(t *testing.T) {
	base := cpServer(t, "/{namespace}/{name}/token", "/management/token;claimable=*;user=usergrid")
	type app struct {
		f    *fixture
		id   string
		user *v1alpha1.OAuthUser
		pw   string
	}
	var apps []app
	for _, email := range []string{"alice@one.example", "alice@two.example"} {
		f := newFixture(t)
		id, _ := f.Client("app", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword},
			Compatibility: &v1alpha1.Compatibility{UserObject: v1alpha1.UserObjectUsergrid}})
		u, pw := f.User("alice", v1alpha1.OAuthUserSpec{Email: email, DisplayName: "Alice " + email})
		apps = append(apps, app{f, id, u, pw})
	}
	signIn := func(a app, pw string) response {
		return cpPost(t, base, "/"+a.f.NS+"/app/token", "application/json", `{"grant_type":"password","username":"alice","password":"`+pw+`"}`)
	}
	var wg sync.WaitGroup
	got := make([]response, len(apps))
	for i, a := range apps {
		wg.Go(func() { got[i] = signIn(a, a.pw) })
	}
	wg.Wait()
	for i, a := range apps {
		body, claims := rqWantToken(t, got[i])
		if claims["client_id"] != a.id || claims["sub"] != string(a.user.UID) || claims["tokenwarden.dev/namespace"] != a.f.NS {
			t.Fatalf("app %d: claims %v, want client %s and its namespace's alice", i, claims, a.id)
		}
		cpIssuedAt(t, body)
		u, _ := body["user"].(map[string]any)
		want := map[string]any{"uuid": string(a.user.UID), "type": "user", "username": "alice", "email": a.user.Spec.Email,
			"activated": true, "name": a.user.Spec.DisplayName, "created": float64(a.user.CreationTimestamp.UnixMilli())}
		if len(u) != len(want) {
			t.Fatalf("app %d: user %v, want %v", i, u, want)
		}
		for k, v := range want {
			if u[k] != v {
				t.Fatalf("app %d: user.%s = %v, want %v (%s)", i, k, u[k], v, got[i].Raw)
			}
		}
	}
	t.Run("one namespace's password on the other's app", func(t *testing.T) {
		rqWantError(t, signIn(apps[1], apps[0].pw), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("an unknown app answers as an unknown client", func(t *testing.T) {
		unknown := cpPost(t, base, "/oauth/token", "application/json", `{"grant_type":"password","username":"alice","password":"x","client_id":"no.such-client"}`)
		for _, path := range []string{"/" + apps[0].f.NS + "/nope/token", "/no-such-namespace/app/token"} {
			r := cpPost(t, base, path, "application/json", `{"grant_type":"password","username":"alice","password":"x"}`)
			rqWantBasicChallenge(t, r)
			if r.Raw != unknown.Raw {
				t.Fatalf("%s answered %s, an unknown client %s", path, r.Raw, unknown.Raw)
			}
		}
	})
	t.Run("a client of another namespace authenticating on this app's path", func(t *testing.T) {
		f := apps[0].f
		svc, svcSecret := f.Client("svc", v1alpha1.OAuthClientSpec{})
		other, otherSecret := apps[1].f.Client("svc", v1alpha1.OAuthClientSpec{})
		cc := form("grant_type", "client_credentials")
		if _, claims := rqWantToken(t, cpPost(t, base, "/"+f.NS+"/svc/token", formType, cc, "Authorization", testhttp.Basic(svc, svcSecret))); claims["client_id"] != svc {
			t.Fatalf("client_id %v, want %s", claims["client_id"], svc)
		}
		rqWantBasicChallenge(t, cpPost(t, base, "/"+f.NS+"/svc/token", formType, cc, "Authorization", testhttp.Basic(other, otherSecret)))
		rqWantBasicChallenge(t, cpPost(t, base, "/"+f.NS+"/app/token", formType, cc, "Authorization", testhttp.Basic(other, otherSecret)))
		rqWantError(t, cpPost(t, base, "/"+f.NS+"/svc/token", formType, cc), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("/management/token held by one app", func(t *testing.T) {
		a := apps[1]
		mgmt, _ := a.f.Client("portal", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
		cpHold(t, a.f.NS, "portal", "/management/token")
		r := cpPost(t, base, "/management/token", "application/json", `{"grant_type":"password","username":"alice","password":"`+a.pw+`"}`)
		body, claims := rqWantToken(t, r)
		if claims["client_id"] != mgmt || body["user"].(map[string]any)["uuid"] != string(a.user.UID) {
			t.Fatalf("claims %v user %v, want client %s and the usergrid user of the path's setting", claims, body["user"], mgmt)
		}
	})
}

// TestTokenPathTemplateNeverShadowsBuiltins registers the widest template
// there is and checks every built-in endpoint still answers as itself.
func TestTokenPathTemplateNeverShadowsBuiltins(t *testing.T) {
	base := cpServer(t, "/{namespace}/{name}")
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{})
	r := cpPost(t, base, "/oauth/token", formType, form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(id, secret))
	if _, claims := rqWantToken(t, r); claims["client_id"] != id {
		t.Fatalf("client_id %v", claims["client_id"])
	}
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration", "/healthz"} {
		if r := testhttp.Send(t, http.MethodGet, base+path, "", nil); r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Raw)
		}
	}
	r = cpPost(t, base, "/oauth/introspect", formType, form("token", "x"), "Authorization", testhttp.Basic(id, secret))
	if r.Status != http.StatusOK || r.Body["active"] != false {
		t.Fatalf("introspect: %d %s", r.Status, r.Raw)
	}
	// The template itself serves the client it names.
	if _, claims := rqWantToken(t, cpPost(t, base, "/"+f.NS+"/svc", formType, form("grant_type", "client_credentials"), "Authorization", testhttp.Basic(id, secret))); claims["client_id"] != id {
		t.Fatalf("client_id %v", claims["client_id"])
	}
}

func TestTokenPathAliasesRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		aliases []string
	}{
		{"template without {name}", []string{"/{namespace}/token"}},
		{"template without {namespace}", []string{"/{name}/token"}},
		{"placeholder twice", []string{"/{namespace}/{name}/{name}"}},
		{"placeholder inside a segment", []string{"/app-{name}/{namespace}"}},
		{"another placeholder", []string{"/{namespace}/{app}/token"}},
		{"a subtree", []string{"/legacy/"}},
		{"the root", []string{"/"}},
		{"relative", []string{"token"}},
		{"a query", []string{"/token?x=1"}},
		{"an empty segment", []string{"/a//token"}},
		{"a claimable template", []string{"/{namespace}/{name}/token;claimable=*"}},
		{"a claimable /oauth/token", []string{"/oauth/token;claimable=*"}},
		{"an unknown option", []string{"/token;colour=blue"}},
		{"an unknown error style", []string{"/token;errors=xml"}},
		{"an unknown user style", []string{"/token;user=ldap"}},
		{"an empty claimable", []string{"/token;claimable="}},
		{"a path twice", []string{"/token", "/token;errors=detail"}},
		{"discovery", []string{"/.well-known/token"}},
		{"the per-client URL", []string{"/clients/{namespace}/{name}/token"}},
		{"two templates matching the same paths", []string{"/{namespace}/{name}/token", "/{name}/{namespace}/token"}},
		{"templates neither more specific", []string{"/{namespace}/x/{name}", "/{namespace}/{name}/y"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := servertest.Options(func(o *tokenserver.Options) {
				o.Issuer = "http://127.0.0.1:1"
				o.TokenPathAliases = c.aliases
			})
			if _, err := tokenserver.New(o, h.Mem.Stores(), h.Keys); err == nil {
				t.Fatalf("aliases %q accepted", c.aliases)
			}
		})
	}
}

// TestRapidSOSStyle replays a RapidSOS-style API: client_credentials with
// Basic on /oauth/token, the password grant on /oauth/v2/token (from a
// Python sample that sends JSON under a form content type), issued_at in
// milliseconds, and errors carrying detail.
func TestRapidSOSStyle(t *testing.T) {
	base := cpServer(t, "/oauth/token;errors=detail", "/oauth/v2/token;errors=detail")
	f := newFixture(t)
	id, secret := f.Client("rapidsos", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Compatibility: &v1alpha1.Compatibility{ErrorStyle: v1alpha1.ErrorStyleDetail}})
	_, pw := f.User("operator1", v1alpha1.OAuthUserSpec{})

	// curl -X POST https://.../oauth/token -u "$ID:$SECRET" -H 'Content-Type: application/x-www-form-urlencoded' -d 'grant_type=client_credentials'
	r := cpPost(t, base, "/oauth/token", formType, "grant_type=client_credentials", "Authorization", testhttp.Basic(id, secret))
	body, claims := rqWantToken(t, r)
	if claims["client_id"] != id || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) {
		t.Fatalf("client_credentials: %s", r.Raw)
	}
	cpIssuedAt(t, body)
	// requests.post(url, data=json.dumps(payload), headers={"Content-Type": "application/x-www-form-urlencoded"})
	payload := `{"grant_type": "password", "client_id": "` + id + `", "client_secret": "` + secret + `", "username": "operator1", "password": "` + pw + `"}`
	body, _ = rqWantToken(t, cpPost(t, base, "/oauth/v2/token", formType, payload))
	cpIssuedAt(t, body)

	bad := strings.Replace(payload, pw, "wrong", 1)
	cpWantDetailError(t, cpPost(t, base, "/oauth/v2/token", formType, bad), http.StatusBadRequest, "invalid_grant")
	cpWantDetailError(t, cpPost(t, base, "/oauth/token", formType, "grant_type=client_credentials", "Authorization", testhttp.Basic(id, "wrong")), http.StatusUnauthorized, "invalid_client")
	cpWantDetailError(t, cpPost(t, base, "/oauth/v2/token", formType, `{"grant_type": "password", "client_id": "nobody", "client_secret": "x", "username": "a", "password": "b"}`), http.StatusUnauthorized, "invalid_client")
	cpWantDetailError(t, cpPost(t, base, "/oauth/token", formType, "grant_type=magic", "Authorization", testhttp.Basic(id, secret)), http.StatusBadRequest, "unsupported_grant_type")
	cpWantDetailError(t, testhttp.Send(t, http.MethodGet, base+"/oauth/v2/token", "", nil), http.StatusMethodNotAllowed, "invalid_request")
}

// TestErrorStyleOfPathAndClient: the client's style once the client is
// known, the path's before; a failed authentication answers the same
// whichever client was named.
func TestErrorStyleOfPathAndClient(t *testing.T) {
	base := cpServer(t, "/detail/token;errors=detail")
	f := newFixture(t)
	plain, plainSecret := f.Client("plain", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Compatibility: &v1alpha1.Compatibility{ErrorStyle: v1alpha1.ErrorStyleRFC6749}})
	detail, detailSecret := f.Client("detail", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Compatibility: &v1alpha1.Compatibility{ErrorStyle: v1alpha1.ErrorStyleDetail}})
	badPassword := form("grant_type", "password", "username", "nobody", "password", "x")

	// On /oauth/token (no path setting): the client's own style once known.
	rqWantError(t, cpPost(t, base, "/oauth/token", formType, badPassword, "Authorization", testhttp.Basic(plain, plainSecret)), http.StatusBadRequest, "invalid_grant")
	cpWantDetailError(t, cpPost(t, base, "/oauth/token", formType, badPassword, "Authorization", testhttp.Basic(detail, detailSecret)), http.StatusBadRequest, "invalid_grant")
	rqWantError(t, cpPost(t, base, "/oauth/token", formType, form("grant_type", "client_credentials", "scope", "not.mine"), "Authorization", testhttp.Basic(plain, plainSecret)), http.StatusBadRequest, "invalid_scope")
	// A wrong secret of a detail client: the path's style, the same answer
	// as for an unknown client.
	wrong := cpPost(t, base, "/oauth/token", formType, badPassword, "Authorization", testhttp.Basic(detail, "wrong"))
	rqWantBasicChallenge(t, wrong)
	if unknown := cpPost(t, base, "/oauth/token", formType, badPassword, "Authorization", testhttp.Basic("nobody", "wrong")); unknown.Raw != wrong.Raw {
		t.Fatalf("wrong secret %s, unknown client %s", wrong.Raw, unknown.Raw)
	}
	// On the detail path: the path's style before the client is known,
	// the client's explicit rfc6749 after.
	rqWantError(t, cpPost(t, base, "/detail/token", formType, badPassword, "Authorization", testhttp.Basic(plain, plainSecret)), http.StatusBadRequest, "invalid_grant")
	cpWantDetailError(t, cpPost(t, base, "/detail/token", formType, badPassword, "Authorization", testhttp.Basic(plain, "wrong")), http.StatusUnauthorized, "invalid_client")
	cpWantDetailError(t, cpPost(t, base, "/detail/token", "text/plain", "x"), http.StatusBadRequest, "invalid_request")
}

func TestIssuedAtAndUserObjectProfiles(t *testing.T) {
	base := cpServer(t, "/std/token;user=standard;issued-at=omit")
	f := newFixture(t)
	grants := []v1alpha1.GrantType{v1alpha1.GrantPassword}
	u, pw := f.User("erin", v1alpha1.OAuthUserSpec{Email: "erin@example.com", DisplayName: "Erin", Groups: []string{"ops"}})
	signIn := func(id string) string {
		return form("grant_type", "password", "username", "erin", "password", pw, "client_id", id)
	}
	none, _ := f.Client("none", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants})
	legacy, _ := f.Client("legacy", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants, IncludeUserInTokenResponse: true})
	omit, _ := f.Client("omit", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants,
		Compatibility: &v1alpha1.Compatibility{IssuedAt: v1alpha1.IssuedAtOmit, UserObject: v1alpha1.UserObjectNone}})
	keep, _ := f.Client("keep", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants,
		Compatibility: &v1alpha1.Compatibility{IssuedAt: v1alpha1.IssuedAtMilliseconds}})

	body, _ := rqWantToken(t, cpPost(t, base, "/oauth/token", formType, signIn(none)))
	if _, ok := body["user"]; ok {
		t.Fatalf("a client that did not opt in got a user object: %v", body)
	}
	cpIssuedAt(t, body)
	body, _ = rqWantToken(t, cpPost(t, base, "/oauth/token", formType, signIn(legacy)))
	var std struct {
		User struct {
			Username, UID, Email, DisplayName string
			Groups                            []string
		}
	}
	raw, _ := json.Marshal(body)
	_ = json.Unmarshal([]byte(strings.ReplaceAll(string(raw), "display_name", "DisplayName")), &std)
	if std.User.Username != "erin" || std.User.UID != string(u.UID) || std.User.Email != "erin@example.com" || std.User.DisplayName != "Erin" || len(std.User.Groups) != 1 {
		t.Fatalf("includeUserInTokenResponse: user %+v", body["user"])
	}
	body, _ = rqWantToken(t, cpPost(t, base, "/oauth/token", formType, signIn(omit)))
	if _, ok := body["issued_at"]; ok {
		t.Fatalf("issuedAt omit: %v", body)
	}
	// The path's settings apply to clients that left them unset.
	body, _ = rqWantToken(t, cpPost(t, base, "/std/token", formType, signIn(none)))
	if _, ok := body["issued_at"]; ok || body["user"] == nil {
		t.Fatalf("path settings user=standard;issued-at=omit: %v", body)
	}
	body, _ = rqWantToken(t, cpPost(t, base, "/std/token", formType, signIn(omit)))
	if _, ok := body["user"]; ok {
		t.Fatalf("the client's userObject none loses to the path: %v", body)
	}
	body, _ = rqWantToken(t, cpPost(t, base, "/std/token", formType, signIn(keep)))
	cpIssuedAt(t, body)
}

// TestResgridStyle replays a Resgrid-style OpenID password grant on
// /api/v4/connect/token: a form body exactly as curl -d sends it (spaces in
// scope unencoded), no client identification, then a refresh the same way.
// The path is held as its default by the client of one namespace.
func TestResgridStyle(t *testing.T) {
	f := newFixture(t)
	const path = "/resgrid/api/v4/connect/token"
	base := cpServer(t, path+";claimable="+f.NS)
	id, _ := f.Client("resgrid", v1alpha1.OAuthClientSpec{Public: true,
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"openid", "profile", "offline_access"}})
	cpHold(t, f.NS, "resgrid", path)
	u, pw := f.User("unit7", v1alpha1.OAuthUserSpec{DisplayName: "Unit 7"})

	// curl -X POST "$BASE/api/v4/connect/token" -H 'Content-Type: application/x-www-form-urlencoded' \
	//   -d "grant_type=password&username=unit7&password=$PW&scope=openid profile offline_access"
	r := cpPost(t, base, path, formType, "grant_type=password&username=unit7&password="+pw+"&scope=openid profile offline_access")
	body, claims := rqWantToken(t, r)
	if claims["client_id"] != id || claims["sub"] != string(u.UID) || body["scope"] != "openid profile offline_access" {
		t.Fatalf("claims %v scope %v, want client %s for unit7", claims, body["scope"], id)
	}
	rt, _ := body["refresh_token"].(string)
	if rt == "" || body["id_token"] == nil || body["token_type"] != "Bearer" {
		t.Fatalf("want refresh_token and id_token: %s", r.Raw)
	}
	body, claims = rqWantToken(t, cpPost(t, base, path, formType, "grant_type=refresh_token&refresh_token="+rt))
	if claims["client_id"] != id || body["refresh_token"] == rt {
		t.Fatalf("refresh: client_id %v, rotated %v", claims["client_id"], body["refresh_token"] != rt)
	}
	rqWantError(t, cpPost(t, base, path, formType, "grant_type=password&username=unit7&password=wrong&scope=openid profile"), http.StatusBadRequest, "invalid_grant")
	// The same request on /oauth/token names no client: invalid_client.
	rqWantError(t, cpPost(t, base, "/oauth/token", formType, "grant_type=password&username=unit7&password="+pw), http.StatusUnauthorized, "invalid_client")
}

// TestDefaultPathsSideBySide: two alias paths held by clients of two
// namespaces; a holder the path does not (or no longer) let claim, and two
// holders at once, answer nobody.
func TestDefaultPathsSideBySide(t *testing.T) {
	fa, fb := newFixture(t), newFixture(t)
	pa, pb := "/"+fa.NS+"/connect/token", "/"+fb.NS+"/management/token"
	base := cpServer(t, pa+";claimable="+fa.NS, pb+";claimable="+fb.NS+",other", "/unlisted/token")
	grants := []v1alpha1.GrantType{v1alpha1.GrantPassword}
	ida, _ := fa.Client("a", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants})
	idb, _ := fb.Client("b", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants})
	cpHold(t, fa.NS, "a", pa)
	cpHold(t, fb.NS, "b", pb)
	_, pwa := fa.User("sam", v1alpha1.OAuthUserSpec{})
	_, pwb := fb.User("sam", v1alpha1.OAuthUserSpec{})
	signIn := func(path, pw string) response {
		return cpPost(t, base, path, "application/json", `{"grant_type":"password","username":"sam","password":"`+pw+`"}`)
	}
	if _, c := rqWantToken(t, signIn(pa, pwa)); c["client_id"] != ida {
		t.Fatalf("%s: client_id %v, want %s", pa, c["client_id"], ida)
	}
	if _, c := rqWantToken(t, signIn(pb, pwb)); c["client_id"] != idb {
		t.Fatalf("%s: client_id %v, want %s", pb, c["client_id"], idb)
	}
	rqWantError(t, signIn(pa, pwb), http.StatusBadRequest, "invalid_grant")

	t.Run("a holder of a namespace the path does not list", func(t *testing.T) {
		fc := newFixture(t)
		fc.Client("c", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants})
		cpHold(t, fc.NS, "c", "/unlisted/token")
		_, pwc := fc.User("sam", v1alpha1.OAuthUserSpec{})
		rqWantError(t, signIn("/unlisted/token", pwc), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("two holders: neither answers", func(t *testing.T) {
		fa.Client("a2", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: grants})
		cpHold(t, fa.NS, "a2", pa)
		rqWantError(t, signIn(pa, pwa), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("a confidential holder still authenticates", func(t *testing.T) {
		fd := newFixture(t)
		pd := "/" + fd.NS + "/token"
		based := cpServer(t, pd+";claimable=*")
		id, secret := fd.Client("d", v1alpha1.OAuthClientSpec{})
		cpHold(t, fd.NS, "d", pd)
		rqWantError(t, cpPost(t, based, pd, formType, "grant_type=client_credentials"), http.StatusUnauthorized, "invalid_client")
		if _, c := rqWantToken(t, cpPost(t, based, pd, formType, "grant_type=client_credentials", "Authorization", testhttp.Basic(id, secret))); c["client_id"] != id {
			t.Fatalf("client_id %v", c["client_id"])
		}
	})
}

// TestGenericJSONAPI replays a generic API client that sends JSON bodies
// with its credentials in them, for every grant it uses, and reads RFC 6749
// errors.
func TestGenericJSONAPI(t *testing.T) {
	f := newFixture(t)
	const redirect = "https://app.example/cb"
	id, secret := f.Client("api", v1alpha1.OAuthClientSpec{
		GrantTypes:   []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken, v1alpha1.GrantAuthorizationCode},
		Scopes:       []string{"read", "write", "offline_access"},
		RedirectURIs: []string{redirect}})
	_, pw := f.User("gina", v1alpha1.OAuthUserSpec{})
	creds := `"client_id":"` + id + `","client_secret":"` + secret + `"`
	jpost := func(body string) response { return post(t, "/token", "application/json", "{"+body+"}") }

	body, _ := rqWantToken(t, jpost(`"grant_type":"client_credentials",`+creds+`,"scope":"read write"`))
	if body["scope"] != "read write" || body["refresh_token"] != nil {
		t.Fatalf("client_credentials: %v", body)
	}
	body, _ = rqWantToken(t, jpost(`"grant_type":"password",`+creds+`,"username":"gina","password":"`+pw+`","scope":"read offline_access"`))
	rt, _ := body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("password: no refresh_token: %v", body)
	}
	body, _ = rqWantToken(t, jpost(`"grant_type":"refresh_token",`+creds+`,"refresh_token":"`+rt+`"`))
	if body["refresh_token"] == rt || body["refresh_token"] == nil {
		t.Fatalf("refresh: not rotated: %v", body)
	}
	// authorization_code: the code from the browser flow, exchanged as JSON.
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "scope": {"read"}, "state": {"s1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	back := servertest.NewBrowser(t).SignIn(issuer, issuer+"/oauth/authorize?"+q.Encode(), "gina", pw)
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", back)
	}
	exchange := `"grant_type":"authorization_code",` + creds + `,"code":"` + code + `","redirect_uri":"` + redirect + `","code_verifier":"` + verifier + `"`
	if body, claims := rqWantToken(t, jpost(exchange)); claims["client_id"] != id || body["scope"] != "read" {
		t.Fatalf("authorization_code: %v %v", body, claims)
	}
	rqWantError(t, jpost(exchange), http.StatusBadRequest, "invalid_grant")
	rqWantError(t, jpost(`"grant_type":"refresh_token",`+creds+`,"refresh_token":"twr_x_y"`), http.StatusBadRequest, "invalid_grant")
	rqWantError(t, jpost(`"grant_type":"password",`+creds+`,"username":"gina","password":"wrong"`), http.StatusBadRequest, "invalid_grant")
	rqWantError(t, jpost(`"grant_type":"client_credentials","client_id":"`+id+`","client_secret":"wrong"`), http.StatusUnauthorized, "invalid_client")
	rqWantError(t, jpost(`"grant_type":"urn:example:magic",`+creds), http.StatusBadRequest, "unsupported_grant_type")
	rqWantError(t, jpost(`"grant_type":"client_credentials",`+creds+`,"scope":"admin"`), http.StatusBadRequest, "invalid_scope")
}

// TestCompatibilityWithOAuthLibraries: golang.org/x/oauth2 and go-oidc on a
// template path with the detail error style and a held alias: the library
// still reads the error code (detail only adds a member), and the id_token
// of a client served without client_id verifies for that client.
func TestCompatibilityWithOAuthLibraries(t *testing.T) {
	f := newFixture(t)
	held := "/" + f.NS + "/connect/token"
	base := cpServer(t, "/{namespace}/{name}/token;errors=detail", held+";claimable="+f.NS)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword},
		Compatibility: &v1alpha1.Compatibility{ErrorStyle: v1alpha1.ErrorStyleDetail}})
	_, pw := f.User("lib", v1alpha1.OAuthUserSpec{})
	ctx := context.Background()

	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: base + "/" + f.NS + "/svc/token"}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("client_credentials on the template: %v", err)
	}
	cc.ClientSecret = "wrong"
	if _, err := cc.Token(ctx); servertest.ErrorCode(err) != "invalid_client" {
		t.Fatalf("wrong secret: %v, want invalid_client", err)
	}
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: cc.TokenURL}}
	if _, err := cfg.PasswordCredentialsToken(ctx, "lib", "wrong"); servertest.ErrorCode(err) != "invalid_grant" {
		t.Fatalf("wrong password: %v, want invalid_grant", err)
	}

	kiosk, _ := f.Client("kiosk", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}, Scopes: []string{"openid"}})
	cpHold(t, f.NS, "kiosk", held)
	r := cpPost(t, base, held, formType, "grant_type=password&username=lib&password="+pw+"&scope=openid")
	body, _ := rqWantToken(t, r)
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := body["id_token"].(string)
	if _, err := provider.Verifier(&oidc.Config{ClientID: kiosk}).Verify(ctx, raw); err != nil {
		t.Fatalf("id_token for the path's client %s: %v", kiosk, err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: id}).Verify(ctx, raw); err == nil {
		t.Fatal("the id_token verifies for another client")
	}
}

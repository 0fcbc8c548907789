package tokenserver_test

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// BenchmarkTokenPaths measures what resolving the client from the path and
// shaping the answer cost: client_credentials on /oauth/token and on a
// /{namespace}/{name}/token template (detail errors); and a public client's
// password grant (plaintext password, no hash work) naming itself on
// /oauth/token, against the same request naming no client on an alias the
// client holds, with a Usergrid user object.
//
//	go test -run '^$' -bench TokenPaths -benchtime 3s ./tokenserver/
func BenchmarkTokenPaths(b *testing.B) {
	f := newFixture(b)
	held := "/" + f.NS + "/held/token"
	base := h.StartReplica(b, func(o *tokenserver.Options) {
		o.TokenPathAliases = []string{"/{namespace}/{name}/token;errors=detail", held + ";claimable=" + f.NS + ";user=usergrid"}
		o.DefaultClient = nil
	})
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{Scopes: []string{"read"},
		Compatibility: &v1alpha1.Compatibility{ErrorStyle: v1alpha1.ErrorStyleDetail}})
	kiosk, _ := f.Client("kiosk", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	if _, err := h.ChangeClient(f.NS, "kiosk", func(c *v1alpha1.OAuthClient) {
		c.Spec.Compatibility = &v1alpha1.Compatibility{DefaultForPaths: []string{held}}
		c.Status.Compatibility = &v1alpha1.CompatibilityStatus{DefaultForPaths: []string{held}}
	}); err != nil {
		b.Fatal(err)
	}
	_, pw := f.User("plain", v1alpha1.OAuthUserSpec{})
	signIn := []string{"grant_type", "password", "username", "plain", "password", pw}
	for _, c := range []struct {
		name, path, id, secret string
		kv                     []string
	}{
		{"client_credentials/oauth-token", "/oauth/token", id, secret, []string{"grant_type", "client_credentials", "scope", "read"}},
		{"client_credentials/template", "/" + f.NS + "/svc/token", id, secret, []string{"grant_type", "client_credentials", "scope", "read"}},
		{"password/oauth-token-client_id", "/oauth/token", "", "", append([]string{"client_id", kiosk}, signIn...)},
		{"password/held-alias-no-client", held, "", "", signIn},
	} {
		b.Run(c.name, func(b *testing.B) {
			servertest.RunHTTP(b, func(pb *testing.PB) error {
				for pb.Next() {
					if _, err := servertest.BenchPost(base+c.path, c.id, c.secret, c.kv...); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

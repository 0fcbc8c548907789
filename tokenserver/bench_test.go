package tokenserver_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// Benchmarks speak HTTP over loopback with keep-alive connections, several
// requests in flight (RunParallel with 4 goroutines per CPU), to the suite's
// server over the in-memory stores. The client runs in the same process, so
// cpu-µs/op (process CPU time per request) counts the client's work too: it
// is an upper bound of the server's cost. Refresh rotation through the API
// server is benchmarked in test/integration.
//
//	make bench   # or: go test -run '^$' -bench . -benchtime 5s ./tokenserver/

func BenchmarkJWKS(b *testing.B) {
	servertest.RunHTTP(b, func(pb *testing.PB) error {
		for pb.Next() {
			resp, err := servertest.BenchClient.Get(issuer + "/.well-known/jwks.json")
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return servertest.HTTPError{Status: resp.StatusCode}
			}
		}
		return nil
	})
}

func BenchmarkClientCredentials(b *testing.B) {
	f := newFixture(b)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{Scopes: []string{"read"}})
	for _, alg := range []keys.Algorithm{keys.ES256, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			base := startServer(b, tokenserver.Options{AccessTokenAlg: alg})
			servertest.RunHTTP(b, func(pb *testing.PB) error {
				for pb.Next() {
					if _, err := servertest.BenchPost(base+"/oauth/token", id, secret, "grant_type", "client_credentials", "scope", "read"); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

func BenchmarkPassword(b *testing.B) {
	f := newFixture(b)
	id, secret := f.Client("cli", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
	_, plainPW := f.User("plain", v1alpha1.OAuthUserSpec{})
	f.User("hashed", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: bcryptOf(b, "correct horse battery")}})
	for _, c := range []struct{ name, user, pw string }{
		{"plaintext-secret", "plain", plainPW},
		{"bcrypt-hash-cached", "hashed", "correct horse battery"},
	} {
		b.Run(c.name, func(b *testing.B) {
			servertest.RunHTTP(b, func(pb *testing.PB) error {
				for pb.Next() {
					if _, err := servertest.BenchPost(issuer+"/oauth/token", id, secret, "grant_type", "password", "username", c.user, "password", c.pw); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// BenchmarkRefreshToken rotates refresh tokens: every request is a
// compare-and-swap update of the family record, here in memory (the cost of
// the protocol path; test/integration has it through the API server). See
// servertest.BenchRefreshToken for its "spread" and "chain" loads.
func BenchmarkRefreshToken(b *testing.B) {
	f := newFixture(b)
	id, secret := f.Client("cli", servertest.RefreshClient())
	_, pw := f.User("plain", v1alpha1.OAuthUserSpec{})
	servertest.BenchRefreshToken(b, issuer, id, secret, "plain", pw)
}

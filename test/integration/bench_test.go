package integration_test

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// BenchmarkRefreshToken rotates refresh tokens through the API server: every
// rotation is a compare-and-swap write of the family Secret. Requests go
// over loopback HTTP as in tokenserver's benchmarks (which run over the
// in-memory stores; servertest.BenchRefreshToken is the body of both);
// cpu-µs/op counts this process (token server, manager and client), not the
// API server and etcd. In "spread" the cache has seen each family's last
// rotation; in "chain" it always lags and every request also pays a live
// read.
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test -run '^$' -bench . ./test/integration/
func BenchmarkRefreshToken(b *testing.B) {
	f := newFixture(b)
	id, secret := f.client("cli", servertest.RefreshClient())
	_, pw := f.user("plain", v1alpha1.OAuthUserSpec{})
	servertest.BenchRefreshToken(b, issuer, id, secret, "plain", pw)
}

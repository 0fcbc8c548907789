package integration_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

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

// BenchmarkClientAuthFailure measures what an anonymous caller can time:
// client_credentials with a client_id nobody holds, and with a real
// client_id and a wrong secret, alternating, one request at a time over
// loopback. Both must answer 401 invalid_client; the medians of the two
// (unknown-µs, wrong-secret-µs) should be within noise, so timing does not
// tell which client ids exist.
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test -run '^$' -bench ClientAuthFailure -benchtime 4000x ./test/integration/
func BenchmarkClientAuthFailure(b *testing.B) {
	f := newFixture(b)
	id, _ := f.client("cc", v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}})
	unknownID := f.ns + ".nobody-holds-this"
	wrong := strings.Repeat("x", 43)
	var unknown, known []time.Duration
	b.ResetTimer()
	for i := range b.N {
		who := id
		if i%2 == 0 {
			who = unknownID
		}
		start := time.Now()
		_, err := servertest.BenchPost(issuer+"/oauth/token", who, wrong, "grant_type", "client_credentials")
		d := time.Since(start)
		var he servertest.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
			b.Fatalf("client %s with a wrong secret: %v, want 401", who, err)
		}
		if who == id {
			known = append(known, d)
		} else {
			unknown = append(unknown, d)
		}
	}
	b.StopTimer()
	b.ReportMetric(median(unknown), "unknown-µs")
	b.ReportMetric(median(known), "wrong-secret-µs")
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1e3
}

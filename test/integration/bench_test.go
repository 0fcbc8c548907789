package integration_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// The refresh-token benchmark through the API server: every rotation is a
// compare-and-swap write of the family Secret. Requests go over loopback HTTP
// as in tokenserver's benchmarks (which run over the in-memory stores);
// cpu-µs/op counts this process (token server, manager and client), not the
// API server and etcd.
//
//	KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test -run '^$' -bench . ./test/integration/

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runHTTP runs build-and-send in parallel and reports requests/s and CPU per
// request. build returns the request for one iteration; check inspects the
// decoded JSON answer.
func runHTTP(b *testing.B, send func(*testing.PB) error) {
	b.Helper()
	b.SetParallelism(4)
	b.ReportAllocs()
	var failed atomic.Int64
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		if err := send(pb); err != nil {
			failed.Add(1)
			b.Error(err)
		}
	})
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// postForm sends a token request and decodes the answer.
func postForm(base, path string, v url.Values, user, pass string) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", formType)
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, nil
}

type httpError struct {
	status int
	body   map[string]any
}

func (e httpError) Error() string {
	b, _ := json.Marshal(e.body)
	return http.StatusText(e.status) + ": " + string(b)
}

// BenchmarkRefreshToken rotates refresh tokens: every request is a
// compare-and-swap write of the family record to the API server.
//
// "spread" is the usual load: many families, each used now and then (each
// goroutine rotates 25 families in turn, so the cache has seen the last
// rotation). "chain" rotates one family per goroutine back to back, so the
// cache always lags and every request also pays a live read.
func BenchmarkRefreshToken(b *testing.B) {
	f := newFixture(b)
	id, secret := f.client("cli", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
	})
	_, pw := f.user("plain", v1alpha1.OAuthUserSpec{})
	login := func() (string, error) {
		st, body, err := postForm(issuer, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"plain"}, "password": {pw}}, id, secret)
		if err != nil {
			return "", err
		}
		if st != http.StatusOK {
			return "", httpError{st, body}
		}
		rt, _ := body["refresh_token"].(string)
		return rt, nil
	}
	for _, c := range []struct {
		name     string
		families int
	}{{"spread", 25}, {"chain", 1}} {
		b.Run(c.name, func(b *testing.B) {
			// Families are created before the clock starts.
			pool := make(chan []string, 64)
			for range 4 * runtime.GOMAXPROCS(0) {
				var fams []string
				for range c.families {
					rt, err := login()
					if err != nil {
						b.Fatal(err)
					}
					fams = append(fams, rt)
				}
				pool <- fams
			}
			runHTTP(b, func(pb *testing.PB) error {
				fams := <-pool
				for i := 0; pb.Next(); i++ {
					k := i % len(fams)
					st, body, err := postForm(issuer, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fams[k]}}, id, secret)
					if err != nil {
						return err
					}
					if st != http.StatusOK {
						return httpError{st, body}
					}
					fams[k], _ = body["refresh_token"].(string)
				}
				return nil
			})
		})
	}
}

package tokenserver_test

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
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// Benchmarks speak HTTP over loopback with keep-alive connections, several
// requests in flight (RunParallel with 4 goroutines per CPU), to the suite's
// server over the in-memory stores. The client runs in the same process, so
// cpu-µs/op (process CPU time per request) counts the client's work too: it
// is an upper bound of the server's cost. Refresh rotation through the API
// server is benchmarked in test/integration.
//
//	make bench   # or: go test -run '^$' -bench . -benchtime 5s ./tokenserver/

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

func BenchmarkJWKS(b *testing.B) {
	runHTTP(b, func(pb *testing.PB) error {
		for pb.Next() {
			resp, err := benchClient.Get(issuer + "/.well-known/jwks.json")
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return httpError{status: resp.StatusCode}
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
			v := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
			runHTTP(b, func(pb *testing.PB) error {
				for pb.Next() {
					st, body, err := postForm(base, "/oauth/token", v, id, secret)
					if err != nil {
						return err
					}
					if st != http.StatusOK {
						return httpError{st, body}
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
			v := url.Values{"grant_type": {"password"}, "username": {c.user}, "password": {c.pw}}
			runHTTP(b, func(pb *testing.PB) error {
				for pb.Next() {
					st, body, err := postForm(issuer, "/oauth/token", v, id, secret)
					if err != nil {
						return err
					}
					if st != http.StatusOK {
						return httpError{st, body}
					}
				}
				return nil
			})
		})
	}
}

// BenchmarkRefreshToken rotates refresh tokens: every request is a
// compare-and-swap update of the family record, here in memory (the cost of
// the protocol path; test/integration has it through the API server).
//
// "spread" is the usual load: many families, each used now and then (each
// goroutine rotates 25 families in turn). "chain" rotates one family per
// goroutine back to back.
func BenchmarkRefreshToken(b *testing.B) {
	f := newFixture(b)
	id, secret := f.Client("cli", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
	})
	_, pw := f.User("plain", v1alpha1.OAuthUserSpec{})
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

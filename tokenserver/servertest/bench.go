package servertest

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// The benchmarks of tokenserver (memory stores) and test/integration (the
// API server) speak HTTP over loopback with keep-alive connections, several
// requests in flight (RunParallel with 4 goroutines per CPU). The client
// runs in the same process, so cpu-µs/op (process CPU time per request)
// counts the client's work too: it is an upper bound of the server's cost.

// BenchClient keeps enough connections open for RunHTTP's goroutines.
var BenchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RunHTTP runs send in parallel (4 goroutines per CPU) and reports
// requests/s and process CPU per request; send loops while pb.Next().
func RunHTTP(b *testing.B, send func(*testing.PB) error) {
	b.Helper()
	b.SetParallelism(4)
	b.ReportAllocs()
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		if err := send(pb); err != nil {
			b.Error(err)
		}
	})
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchPost posts the form kv to u with BenchClient, authenticated with
// client_secret_basic as id, and returns the answer's JSON when it is 200,
// an HTTPError otherwise.
func BenchPost(u, id, secret string, kv ...string) (map[string]any, error) {
	req, err := testhttp.FormRequest(u, id, secret, kv...)
	if err != nil {
		return nil, err
	}
	resp, err := BenchClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusOK {
		return nil, HTTPError{Status: resp.StatusCode, Body: body}
	}
	return body, nil
}

// HTTPError is an answer other than 200.
type HTTPError struct {
	Status int
	Body   map[string]any
}

func (e HTTPError) Error() string {
	b, _ := json.Marshal(e.Body)
	return http.StatusText(e.Status) + ": " + string(b)
}

// BenchRefreshToken rotates refresh tokens at base, each request a
// compare-and-swap update of the family record in the suite's store. The
// client may use the password grant and refresh tokens; username signs in
// with pw.
//
// "spread" is the usual load: many families, each used now and then (each
// goroutine rotates 25 families in turn, so a cache has seen the last
// rotation). "chain" rotates one family per goroutine back to back (a cache
// always lags).
func BenchRefreshToken(b *testing.B, base, id, secret, username, pw string) {
	login := func() (string, error) {
		body, err := BenchPost(base+"/oauth/token", id, secret, "grant_type", "password", "username", username, "password", pw)
		rt, _ := body["refresh_token"].(string)
		return rt, err
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
			RunHTTP(b, func(pb *testing.PB) error {
				fams := <-pool
				for i := 0; pb.Next(); i++ {
					k := i % len(fams)
					body, err := BenchPost(base+"/oauth/token", id, secret, "grant_type", "refresh_token", "refresh_token", fams[k])
					if err != nil {
						return err
					}
					fams[k], _ = body["refresh_token"].(string)
				}
				return nil
			})
		})
	}
}

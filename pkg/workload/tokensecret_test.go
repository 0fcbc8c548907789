package workload_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/pkg/workload"
	"github.com/tokenwarden/tokenwarden/pkg/workload/workloadtest"
)

var epoch = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func tokenFiles(token string, expires time.Time) map[string][]byte {
	return map[string][]byte{
		"access_token":  []byte(token),
		"token_type":    []byte("Bearer"),
		"expires_at":    []byte(expires.UTC().Format(time.RFC3339)),
		"issued_at":     []byte(expires.Add(-time.Hour).UTC().Format(time.RFC3339)),
		"scope":         []byte("invoices.read"),
		"refresh_token": []byte("twr_family_secret"),
	}
}

func TestTokenSecretSource(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string][]byte // nil: nothing mounted
		plain   bool              // a plain directory instead of a kubelet volume
		wantErr error
		want    string
	}{
		{name: "valid token", files: tokenFiles("tok-1", epoch.Add(time.Hour)), want: "tok-1"},
		{name: "valid token in a plain directory", files: tokenFiles("tok-1", epoch.Add(time.Hour)), plain: true, want: "tok-1"},
		{name: "nothing mounted", wantErr: workload.ErrMissing},
		{name: "tokens cleared by the operator", files: map[string][]byte{"issuer": []byte("https://issuer")}, wantErr: workload.ErrMissing},
		{name: "empty access token", files: tokenFiles("", epoch.Add(time.Hour)), wantErr: workload.ErrMissing},
		{name: "expired", files: tokenFiles("tok-1", epoch.Add(-time.Second)), wantErr: workload.ErrExpired},
		{name: "expires exactly now", files: tokenFiles("tok-1", epoch), wantErr: workload.ErrExpired},
		{name: "expires within the margin", files: tokenFiles("tok-1", epoch.Add(4*time.Second)), wantErr: workload.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "token")
			mount(t, dir, tt.files, tt.plain)
			src := workload.TokenSecretSource(dir, workload.TokenOptions{Clock: clocktesting.NewFakePassiveClock(epoch)})
			tok, err := src.Token()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("error %q does not name the directory", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != tt.want || tok.Type() != "Bearer" || !tok.Expiry.Equal(epoch.Add(time.Hour)) {
				t.Errorf("token = %+v", tok)
			}
			if tok.RefreshToken != "" {
				t.Error("the refresh token, which the operator owns, was handed out")
			}
		})
	}
}

func mount(t *testing.T, dir string, files map[string][]byte, plain bool) {
	t.Helper()
	if files == nil {
		return
	}
	if !plain {
		if err := workloadtest.WriteMount(dir, files); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenSecretSourceFollowsMountSwaps(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakePassiveClock(epoch)
	src := workload.TokenSecretSource(dir, workload.TokenOptions{Clock: clk})
	mount(t, dir, tokenFiles("tok-1", epoch.Add(time.Hour)), false)
	expectToken(t, src.Token, "tok-1")

	// Tokenwarden renewed the Secret; the kubelet swaps the mount.
	mount(t, dir, tokenFiles("tok-2", epoch.Add(2*time.Hour)), false)
	expectToken(t, src.Token, "tok-2")

	// The renewal does not reach the pod: past expiry the old token is
	// refused rather than served.
	clk.SetTime(epoch.Add(2 * time.Hour))
	if _, err := src.Token(); !errors.Is(err, workload.ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	// Tokens refused: the operator cleared them.
	mount(t, dir, map[string][]byte{"issuer": []byte("https://issuer")}, false)
	if _, err := src.Token(); !errors.Is(err, workload.ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
	mount(t, dir, tokenFiles("tok-3", epoch.Add(3*time.Hour)), false)
	expectToken(t, src.Token, "tok-3")
}

func expectToken(t *testing.T, token func() (*oauth2.Token, error), want string) {
	t.Helper()
	tok, err := token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != want {
		t.Fatalf("access token = %q, want %q", tok.AccessToken, want)
	}
}

// TestTokenSecretSourceUnderConcurrentSwaps swaps the mount the way the
// kubelet does while readers ask for tokens. Every generation's token and
// expiry are written together; a reader that mixed two generations, served
// an expired token or failed on a half-swapped mount fails the test. Run it
// with -race.
func TestTokenSecretSourceUnderConcurrentSwaps(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakePassiveClock(epoch)
	expiryOf := func(gen int) time.Time { return epoch.Add(time.Hour + time.Duration(gen)*time.Minute) }
	mount(t, dir, tokenFiles("gen-0", expiryOf(0)), false)
	src := workload.TokenSecretSource(dir, workload.TokenOptions{Clock: clk})

	const swaps = 300
	var done atomic.Bool
	var reads, seen atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			last := -1
			for !done.Load() {
				tok, err := src.Token()
				if err != nil {
					errs <- err
					return
				}
				gen, err := strconv.Atoi(strings.TrimPrefix(tok.AccessToken, "gen-"))
				if err != nil || !tok.Expiry.Equal(expiryOf(gen)) {
					errs <- fmt.Errorf("mixed generations: token %q with expiry %s", tok.AccessToken, tok.Expiry)
					return
				}
				if gen < last {
					errs <- fmt.Errorf("went back from generation %d to %d", last, gen)
					return
				}
				if gen != last {
					seen.Add(1)
				}
				last = gen
				reads.Add(1)
			}
		})
	}
	for gen := 1; gen <= swaps; gen++ {
		mount(t, dir, tokenFiles(fmt.Sprintf("gen-%d", gen), expiryOf(gen)), false)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	expectToken(t, src.Token, fmt.Sprintf("gen-%d", swaps))
	t.Logf("%d reads across %d swaps, %d generation changes observed", reads.Load(), swaps, seen.Load())
}

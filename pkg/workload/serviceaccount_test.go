package workload_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/pkg/workload"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// TestServiceAccountSource runs against the token server (memory stores): the
// projected token authenticates a secretless client, the token is reused
// while fresh, and a rotated token file is read for the next one.
func TestServiceAccountSource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := servertest.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := h.Namespace()
	id, _, _ := h.Client(ns, "robot-client", v1alpha1.OAuthClientSpec{Scopes: []string{"read"}, Authentication: &v1alpha1.ClientAuthentication{
		ServiceAccounts: []string{"robot"}, ClientSecret: v1alpha1.ClientSecretNone,
	}})
	path := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(h.Mem.Reviews.Issue(ns, "robot", []string{h.Issuer}, time.Hour))
	clk := clocktesting.NewFakeClock(time.Now())
	src := workload.ServiceAccountSource(ctx, h.Issuer+"/oauth/token", "", path, workload.ClientOptions{Clock: clk})
	first, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if c := testhttp.JWTClaims(t, first.AccessToken); c["client_id"] != id || c["scope"] != "read" {
		t.Fatalf("token of %v", c)
	}
	if again, _ := src.Token(); again.AccessToken != first.AccessToken {
		t.Fatalf("a fresh token was not reused")
	}
	// The file is read again for each new access token: once the token
	// needs renewing, what the file holds then is sent.
	clk.Step(time.Hour)
	write(h.Mem.Reviews.Issue(ns, "intruder", []string{h.Issuer}, time.Hour))
	if _, err := src.Token(); err == nil {
		t.Fatalf("a token of a ServiceAccount the client does not list authenticated")
	}
	write(h.Mem.Reviews.Issue(ns, "robot", []string{h.Issuer}, time.Hour))
	if next, err := src.Token(); err != nil || next.AccessToken == first.AccessToken {
		t.Fatalf("after the rotation: %v", err)
	}
	clk.Step(time.Hour)
	write("")
	if _, err := src.Token(); !errors.Is(err, workload.ErrMissing) {
		t.Fatalf("empty token file: %v, want ErrMissing", err)
	}
}

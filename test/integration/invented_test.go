package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// countingReader counts the reads a token server makes of the API server.
type countingReader struct {
	client.Reader
	gets, lists atomic.Int64
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets.Add(1)
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.lists.Add(1)
	return c.Reader.List(ctx, list, opts...)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// inventedRefreshToken is a refresh token an attacker makes up: a family id
// of the earlier releases' form, a stamped form with a random stamp, or one
// whose stamp claims to be issued this second under a made-up MAC.
func inventedRefreshToken(t testing.TB, i int) string {
	t.Helper()
	var id string
	switch i % 3 {
	case 0:
		id = randomHex(t, 16)
	case 1:
		id = randomHex(t, 28)
	default:
		now := make([]byte, 4)
		binary.BigEndian.PutUint32(now, uint32(time.Now().Unix()))
		id = randomHex(t, 16) + hex.EncodeToString(now) + randomHex(t, 8)
	}
	return "twr_" + id + "_" + randomHex(t, 16)
}

// TestInventedTokensCostNoAPIReads: refresh tokens, codes, revocations and
// introspections of ids nobody issued are refused (invalid_grant,
// active:false, 200 for revocation) without a single read of the API
// server, so a flood of them cannot load it. An honest token issued by
// another replica a moment ago still refreshes.
func TestInventedTokensCostNoAPIReads(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", v1alpha1.OAuthClientSpec{
		GrantTypes:   []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken, v1alpha1.GrantAuthorizationCode},
		Scopes:       []string{"offline_access"},
		RedirectURIs: []string{"https://app.example/cb"},
	})
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	eventually(t, func() error {
		return mgr.GetClient().Get(context.Background(), client.ObjectKey{Namespace: operatorNamespace, Name: kubestore.MigratedSecretName}, &corev1.Secret{})
	}).Should(gomega.Succeed(), "the migration of earlier releases' records is done")
	live := &countingReader{Reader: mgr.GetAPIReader()}
	base := startServerReading(t, tokenserver.Options{}, live)
	creds := []string{"client_id", id, "client_secret", secret}

	const n = 1000
	for i := range n {
		r := testhttp.Post(t, base+"/oauth/token", formType, form(append([]string{"grant_type", "refresh_token", "refresh_token", inventedRefreshToken(t, i)}, creds...)...))
		servertest.WantError(t, r, http.StatusBadRequest, "invalid_grant", "an invented refresh token")
	}
	for i := range 100 {
		stampNow := make([]byte, 4)
		binary.BigEndian.PutUint32(stampNow, uint32(time.Now().Unix()))
		code := "twc_" + hex.EncodeToString(stampNow) + randomHex(t, 8) + randomHex(t, 24)
		if i%2 == 0 {
			code = "twc_" + randomHex(t, 32)
		}
		r := testhttp.Post(t, base+"/oauth/token", formType, form(append([]string{"grant_type", "authorization_code", "code", code, "redirect_uri", "https://app.example/cb", "code_verifier", randomHex(t, 32)}, creds...)...))
		servertest.WantError(t, r, http.StatusBadRequest, "invalid_grant", "an invented code")
		if r := testhttp.Post(t, base+"/oauth/revoke", formType, form(append([]string{"token", inventedRefreshToken(t, i)}, creds...)...)); r.Status != http.StatusOK {
			t.Fatalf("revocation of an invented token: %d %s", r.Status, r.Raw)
		}
		if active := servertest.Introspect(t, base, id, secret, inventedRefreshToken(t, i))["active"]; active != false {
			t.Fatalf("introspection of an invented token: active %v", active)
		}
	}
	t.Logf("API reads for %d invented refresh tokens and 100 each of invented codes, revocations and introspections: %d GET, %d LIST", n, live.gets.Load(), live.lists.Load())
	if g, l := live.gets.Load(), live.lists.Load(); g != 0 || l != 0 {
		t.Fatalf("invented tokens made %d GETs and %d LISTs of the API server, want none", g, l)
	}

	// An honest token issued a moment ago on the suite's server refreshes
	// here, wherever this replica's cache stands.
	rt := servertest.WantRefreshToken(t, servertest.PasswordGrant(t, issuer, id, secret, "alice", pw, "offline_access"), "sign-in")
	servertest.WantRefreshToken(t, servertest.RefreshGrant(t, base, id, secret, rt), "refresh on another replica at once")
}

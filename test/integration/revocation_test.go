package integration_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// rqWaitFamilyGone waits until the manager's cache no longer holds the
// refresh family of rt (the token server reads families from that cache).
func rqWaitFamilyGone(t *testing.T, ns, rt string) {
	t.Helper()
	key := rfFamilyKey(t, ns, rt)
	eventually(t, func() bool {
		return apierrors.IsNotFound(mgr.GetClient().Get(context.Background(), key, &corev1.Secret{}))
	}).WithTimeout(5*time.Second).Should(gomega.BeTrue(), "family %s gone from the cache", key.Name)
}

// TestRevocation: RFC 7009 revocation of a refresh token deletes its family
// Secret, the deletion reaches the cache the token server reads, and the
// token is refused from then on. (The rest of the revocation table runs over
// the in-memory stores in tokenserver.)
func TestRevocation(t *testing.T) {
	f := newFixture(t)
	a, aSecret := f.client("a", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"api.read", "offline_access"},
	})
	pub, _ := f.client("pub", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}, Scopes: []string{"offline_access"}})
	_, pw := f.user("judy", v1alpha1.OAuthUserSpec{})
	signIn := func(t *testing.T, creds ...string) string {
		t.Helper()
		return servertest.WantRefreshToken(t, testhttp.Post(t, issuer+"/oauth/token", formType, form(append([]string{"grant_type", "password", "username", "judy", "password", pw, "scope", "offline_access"}, creds...)...)), "sign-in")
	}
	revoke := func(t *testing.T, creds ...string) {
		t.Helper()
		if r := testhttp.Post(t, issuer+"/oauth/revoke", formType, form(creds...)); r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
	}
	t.Run("revoked refresh token fails with invalid_grant", func(t *testing.T) {
		rt := signIn(t, "client_id", a, "client_secret", aSecret)
		if _, err := rfFamilySecret(t, f.ns, rt); err != nil {
			t.Fatalf("family Secret of a new sign-in: %v", err)
		}
		revoke(t, "token", rt, "token_type_hint", "refresh_token", "client_id", a, "client_secret", aSecret)
		if _, err := rfFamilySecret(t, f.ns, rt); !apierrors.IsNotFound(err) {
			t.Fatalf("family Secret after the revocation answered 200: %v", err)
		}
		rqWaitFamilyGone(t, f.ns, rt)
		for range 2 {
			servertest.WantError(t, servertest.RefreshGrant(t, issuer, a, aSecret, rt), 400, "invalid_grant", "refresh with a revoked token")
		}
	})
	t.Run("a public client revokes its own refresh token", func(t *testing.T) {
		rt := signIn(t, "client_id", pub)
		revoke(t, "token", rt, "client_id", pub)
		rqWaitFamilyGone(t, f.ns, rt)
		servertest.WantError(t, testhttp.Post(t, issuer+"/oauth/token", formType, form("grant_type", "refresh_token", "refresh_token", rt, "client_id", pub)), 400, "invalid_grant", "refresh with a revoked token")
	})
	t.Run("unknown family names are 200 and touch nothing", func(t *testing.T) {
		rt := signIn(t, "client_id", a, "client_secret", aSecret)
		fam, _ := servertest.TokenParts(t, rt)
		revoke(t, "token", "twr_"+strings.Repeat("ab", 16)+"_x", "client_id", a, "client_secret", aSecret)
		revoke(t, "token", "twr_"+fam+"_wrong-secret", "client_id", a, "client_secret", aSecret)
		if _, err := rfFamilySecret(t, f.ns, rt); err != nil {
			t.Fatalf("a revocation with the wrong secret removed the family: %v", err)
		}
		servertest.WantRefreshToken(t, servertest.RefreshGrant(t, issuer, a, aSecret, rt), "refresh after foreign revocations")
	})
}

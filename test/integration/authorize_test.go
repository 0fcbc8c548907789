package integration_test

import (
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// Two replicas writing through the API server race to redeem one code:
// exactly one exchange succeeds (the code record's compare-and-swap on its
// Secret), the other is invalid_grant. The same race over the in-memory
// stores is tokenserver's test of the same name.
func TestAuthorizationCodeSingleUseAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	second := startServer(t, tokenserver.Options{})
	redirect := "http://127.0.0.1:8080/callback"
	id, secret := f.client("app", v1alpha1.OAuthClientSpec{
		GrantTypes:   []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "offline_access"},
		RedirectURIs: []string{redirect},
	})
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth/authorize", TokenURL: issuer + "/oauth/token"}}
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	servertest.CodeSingleUseAcrossReplicas(t, cfg, issuer, second, "alice", pw, 5)
}

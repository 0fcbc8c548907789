package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// TestPostLogoutRedirectURIsValidated: spec.postLogoutRedirectURIs follow
// the redirect URI rules: https with a host, or http on an exact loopback
// host; no userinfo, no fragment, no look-alike of a loopback host.
func TestPostLogoutRedirectURIsValidated(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example.com/signed-out", true},
		{"http://127.0.0.1:8080/bye", true},
		{"http://localhost/bye", true},
		{"http://localhost.attacker.example/bye", false},
		{"http://127.0.0.1.attacker.example/bye", false},
		{"http://localhost@attacker.example/bye", false},
		{"https://app.example.com/bye#frag", false},
		{"http://app.example.com/bye", false},
		{"/relative", false},
	}
	for i, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			c := newClient(ns, fmt.Sprintf("logout-%d", i), func(c *v1alpha1.OAuthClient) {
				c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
				c.Spec.RedirectURIs = []string{"https://app.example.com/cb"}
				c.Spec.PostLogoutRedirectURIs = []string{tt.uri}
			})
			err := env.Client.Create(context.Background(), c)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.ok && (err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "post-logout redirect URIs")):
				t.Fatalf("want an Invalid error about post-logout redirect URIs, got %v", err)
			}
		})
	}
}

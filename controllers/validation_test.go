package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// TestInvalidSpecsAreRejected checks that the API server itself refuses
// invalid objects, with a message that tells a person what to fix.
func TestInvalidSpecsAreRejected(t *testing.T) {
	ns := env.Namespace(t)
	d := func(s string) *metav1.Duration {
		v, _ := time.ParseDuration(s)
		return &metav1.Duration{Duration: v}
	}
	tests := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"public client with client_credentials", newClient(ns, "a", func(c *v1alpha1.OAuthClient) {
			c.Spec.Public = true
		}), "a public client cannot use client_credentials"},
		{"implicit without redirect URIs", newClient(ns, "b", func(c *v1alpha1.OAuthClient) {
			c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantImplicit}
		}), "need at least one entry in redirectURIs"},
		{"authorization_code without redirect URIs", newClient(ns, "c", func(c *v1alpha1.OAuthClient) {
			c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
		}), "need at least one entry in redirectURIs"},
		{"unknown grant", newClient(ns, "d", func(c *v1alpha1.OAuthClient) {
			c.Spec.GrantTypes = []v1alpha1.GrantType{"magic"}
		}), `Unsupported value: "magic"`},
		{"plain http redirect", newClient(ns, "e", func(c *v1alpha1.OAuthClient) {
			c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
			c.Spec.RedirectURIs = []string{"http://app.example.com/cb"}
		}), "redirect URIs must be https, or http on a loopback address"},
		{"redirect with fragment", newClient(ns, "f", func(c *v1alpha1.OAuthClient) {
			c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
			c.Spec.RedirectURIs = []string{"https://app.example.com/cb#x"}
		}), "must not contain a fragment"},
		{"access token TTL too short", newClient(ns, "g", func(c *v1alpha1.OAuthClient) {
			c.Spec.AccessTokenTTL = d("10s")
		}), "accessTokenTTL must be between 1m and 24h"},
		{"overlap not shorter than interval", newClient(ns, "h", func(c *v1alpha1.OAuthClient) {
			c.Spec.SecretRotation = &v1alpha1.SecretRotation{Interval: *d("1h"), Overlap: *d("2h")}
		}), "overlap must be shorter than secretRotation.interval"},
		{"refresh_token alone", newClient(ns, "i", func(c *v1alpha1.OAuthClient) {
			c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantRefreshToken}
		}), "refresh_token needs a grant that issues refresh tokens"},
		{"public client with rotation", newClient(ns, "j", func(c *v1alpha1.OAuthClient) {
			c.Spec.Public = true
			c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantPassword}
			c.Spec.SecretRotation = &v1alpha1.SecretRotation{Interval: *d("24h")}
		}), "a public client has no secret to rotate"},
		{"bad client id", newClient(ns, "k", func(c *v1alpha1.OAuthClient) {
			c.Spec.ClientID = "has space"
		}), "spec.clientID"},
		{"unknown hash scheme", newUser(ns, "l", func(u *v1alpha1.OAuthUser) {
			u.Spec.Password.Hash = "{SHA}abc"
		}), "must be a bcrypt"},
		{"hash and secretRef", newUser(ns, "m", func(u *v1alpha1.OAuthUser) {
			u.Spec.Password.Hash = "$2a$04$abc"
			u.Spec.Password.SecretRef = &v1alpha1.PasswordSecretRef{Name: "x"}
		}), "set at most one of password.secretRef and password.hash"},
		{"username with colon", newUser(ns, "n", func(u *v1alpha1.OAuthUser) {
			u.Spec.Username = "a:b"
		}), "spec.username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), tt.obj)
			if err == nil {
				t.Fatalf("created an invalid object")
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if !containsString(err.Error(), tt.want) {
				t.Fatalf("message %q does not contain %q", err.Error(), tt.want)
			}
		})
	}
}

func containsString(s, sub string) bool {
	return strings.Contains(s, sub)
}

package controllers_test

import (
	"context"
	"fmt"
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
		// Each of these passed the former prefix rule and would send codes
		// in clear text to a remote host.
		{"loopback name as a subdomain", redirectClient(ns, "rd1", "http://localhost.attacker.example/cb"), "http on a loopback address"},
		{"loopback address as a subdomain", redirectClient(ns, "rd2", "http://127.0.0.1.attacker.example/cb"), "http on a loopback address"},
		{"loopback name as userinfo", redirectClient(ns, "rd3", "http://localhost@attacker.example/cb"), "must not contain userinfo"},
		{"loopback with port as userinfo", redirectClient(ns, "rd4", "http://127.0.0.1:80@attacker.example/cb"), "must not contain userinfo"},
		{"userinfo on https", redirectClient(ns, "rd5", "https://user:pw@app.example.com/cb"), "must not contain userinfo"},
		{"other loopback address", redirectClient(ns, "rd6", "http://127.0.0.2/cb"), "http on a loopback address"},
		{"relative redirect", redirectClient(ns, "rd7", "/cb"), "http on a loopback address"},
		{"not a URL", redirectClient(ns, "rd8", "app.example.com"), "http on a loopback address"},
		{"https without host", redirectClient(ns, "rd9", "https:///cb"), "http on a loopback address"},
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
		{"bcrypt cost 13", hashUser(ns, "o", "$2b$13$"+bcryptTail), "bcrypt cost must be 04..12"},
		{"bcrypt cost 03", hashUser(ns, "p", "$2y$03$"+bcryptTail), "bcrypt cost must be 04..12"},
		{"bcrypt cost 31", hashUser(ns, "q", "$2a$31$"+bcryptTail), "bcrypt cost must be 04..12"},
		{"argon2id m=65537", hashUser(ns, "r", argon2idWith("m=65537,t=1,p=1")), "argon2id memory m must be set and at most 65536 KiB (64 MiB)"},
		{"argon2id m=1GiB", hashUser(ns, "s", argon2idWith("m=1048576,t=1,p=1")), "argon2id memory m must be set"},
		{"argon2id m=100000", hashUser(ns, "t", argon2idWith("m=100000,t=1,p=1")), "argon2id memory m must be set"},
		{"argon2id m=65540", hashUser(ns, "z1", argon2idWith("m=65540,t=1,p=1")), "argon2id memory m must be set"},
		{"argon2id m=65600", hashUser(ns, "z2", argon2idWith("m=65600,t=1,p=1")), "argon2id memory m must be set"},
		{"argon2id m=66000", hashUser(ns, "z3", argon2idWith("m=66000,t=1,p=1")), "argon2id memory m must be set"},
		{"argon2id m=655360", hashUser(ns, "z4", argon2idWith("m=655360,t=1,p=1")), "argon2id memory m must be set"},
		{"argon2id t=5", hashUser(ns, "u", argon2idWith("m=64,t=5,p=1")), "argon2id time t must be set and at most 4"},
		{"argon2id t=100", hashUser(ns, "v", argon2idWith("m=64,t=100,p=1")), "argon2id time t must be set"},
		{"argon2id p=5", hashUser(ns, "w", argon2idWith("m=64,t=1,p=5")), "argon2id parallelism p must be set and at most 4"},
		{"argon2id p=255 listed first", hashUser(ns, "x", argon2idWith("p=255,m=64,t=1")), "argon2id parallelism p must be set"},
		{"argon2id without m", hashUser(ns, "y", argon2idWith("t=1,p=1")), "argon2id memory m must be set"},
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

// TestRedirectURIsAccepted checks that the CRD's parsed redirect-URI rules
// admit https anywhere and http on each exact loopback host, with any port.
func TestRedirectURIsAccepted(t *testing.T) {
	ns := env.Namespace(t)
	for i, u := range []string{
		"https://app.example.com/cb",
		"https://app.example.com:8443/cb?tenant=a",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:53123/cb",
		"http://[::1]:8080/cb",
		"http://localhost:3000/callback",
	} {
		if err := env.Client.Create(context.Background(), redirectClient(ns, fmt.Sprintf("ok-%d", i), u)); err != nil {
			t.Errorf("redirect URI %q refused: %v", u, err)
		}
	}
}

// redirectClient is an authorization-code client with one redirect URI.
func redirectClient(ns, name, uri string) *v1alpha1.OAuthClient {
	return newClient(ns, name, func(c *v1alpha1.OAuthClient) {
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
		c.Spec.RedirectURIs = []string{uri}
	})
}

// TestHashBoundsAccepted checks that the CRD's work bounds on
// spec.password.hash admit hashes at the limits, in any parameter order.
func TestHashBoundsAccepted(t *testing.T) {
	ns := env.Namespace(t)
	for i, h := range []string{
		"$2a$04$" + bcryptTail,
		"$2b$10$" + bcryptTail,
		"$2y$12$" + bcryptTail,
		argon2idWith("m=65536,t=4,p=4"),
		argon2idWith("m=65535,t=3,p=1"),
		argon2idWith("m=8,t=1,p=1"),
		argon2idWith("p=4,t=4,m=65536"),
		argon2idWith("m=9999,t=2,p=3"),
		// One per branch of the CEL rule's 0..65536 pattern.
		argon2idWith("m=59999,t=1,p=1"),
		argon2idWith("m=64999,t=1,p=1"),
		argon2idWith("m=65499,t=1,p=1"),
		argon2idWith("m=65529,t=1,p=1"),
		argon2idWith("m=0065536,t=1,p=1"),
	} {
		if err := env.Client.Create(context.Background(), hashUser(ns, fmt.Sprintf("ok-%d", i), h)); err != nil {
			t.Errorf("hash %q refused: %v", h, err)
		}
	}
}

// bcryptTail is the salt and hash part of a bcrypt hash, after "$2x$NN$".
const bcryptTail = "JxzEcF2VibuzOqtkQljk2.PN/cgHw3f6yuL3M7F2Zgs3kAHRyGmmW"

// argon2idWith is an argon2id PHC string with the given parameter text.
func argon2idWith(params string) string {
	return "$argon2id$v=19$" + params + "$MDEyMzQ1Njc4OWFiY2RlZg$Fh9YXL3IMx1y5jMEl4WPtYPrBHEfBloAge2oySXGzNM"
}

func hashUser(ns, name, hash string) *v1alpha1.OAuthUser {
	return newUser(ns, name, func(u *v1alpha1.OAuthUser) { u.Spec.Password.Hash = hash })
}

func containsString(s, sub string) bool {
	return strings.Contains(s, sub)
}

// TestInvalidAuthenticationSpecsAreRejected: the API server refuses
// spec.authentication combinations that cannot work, with a message.
func TestInvalidAuthenticationSpecsAreRejected(t *testing.T) {
	ns := env.Namespace(t)
	auth := func(a *v1alpha1.ClientAuthentication) func(*v1alpha1.OAuthClient) {
		return func(c *v1alpha1.OAuthClient) { c.Spec.Authentication = a }
	}
	tests := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"no secret and no other method", newClient(ns, "wa", auth(&v1alpha1.ClientAuthentication{ClientSecret: v1alpha1.ClientSecretNone})), "clientSecret None needs serviceAccounts or privateKeyJWT"},
		{"two key sources", newClient(ns, "wb", auth(&v1alpha1.ClientAuthentication{PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{
			JWKS: `{"keys":[]}`, ConfigMapRef: &v1alpha1.KeyReference{Name: "k"}}})), "set exactly one of jwks, secretRef and configMapRef"},
		{"no key source", newClient(ns, "wc", auth(&v1alpha1.ClientAuthentication{PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{}})), "set exactly one of jwks, secretRef and configMapRef"},
		{"a public client", newClient(ns, "wd", func(c *v1alpha1.OAuthClient) {
			c.Spec.Public, c.Spec.GrantTypes = true, []v1alpha1.GrantType{v1alpha1.GrantPassword}
			c.Spec.Authentication = &v1alpha1.ClientAuthentication{ServiceAccounts: []string{"robot"}}
		}), "a public client does not authenticate"},
		{"rotation without a secret", newClient(ns, "we", func(c *v1alpha1.OAuthClient) {
			c.Spec.Authentication = &v1alpha1.ClientAuthentication{ServiceAccounts: []string{"robot"}, ClientSecret: v1alpha1.ClientSecretNone}
			c.Spec.SecretRotation = &v1alpha1.SecretRotation{Interval: metav1.Duration{Duration: time.Hour}}
		}), "has none to rotate"},
		{"a ServiceAccount name with a colon", newClient(ns, "wf", auth(&v1alpha1.ClientAuthentication{ServiceAccounts: []string{"ns:robot"}})), "should match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), tc.obj)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: %v, want Invalid mentioning %q", err, tc.want)
			}
		})
	}
}

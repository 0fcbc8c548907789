package integration_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// exchangeConfig is the x/oauth2 request of an RFC 8693 exchange: the
// client_credentials shape with grant_type overridden and the subject (and
// actor) as endpoint parameters. The client authenticates with assertion.
func exchangeConfig(id, assertion string, params url.Values) *clientcredentials.Config {
	cfg := assertionConfig(issuer, id, assertion)
	cfg.EndpointParams.Set("grant_type", string(v1alpha1.GrantTokenExchange))
	for k, v := range params {
		cfg.EndpointParams[k] = v
	}
	return cfg
}

// TestTokenExchangeOnCluster: a workload authenticated by its ServiceAccount
// token exchanges a TokenRequest-issued ServiceAccount token, and then an
// access token with itself as actor, for a granted audience; another
// namespace's ServiceAccount token is refused.
func TestTokenExchangeOnCluster(t *testing.T) {
	f, other := newFixture(t), newFixture(t)
	f.serviceAccount("gateway")
	f.serviceAccount("batch")
	other.serviceAccount("batch")
	aud := "https://reports." + f.ns + ".example"
	f.create(&v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Name: "reports", Namespace: f.ns}, Spec: v1alpha1.OAuthResourceSpec{Audience: aud, Scopes: []string{"reports.read"}}})
	spec := saClientSpec("gateway")
	spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantTokenExchange}
	spec.Scopes = []string{"reports.read"}
	spec.Audiences = []string{aud}
	id, _ := f.client("gateway", spec)
	gateway := serviceAccountToken(t, f.ns, "gateway", []string{issuer}, nil)
	batch := serviceAccountToken(t, f.ns, "batch", []string{issuer}, nil)

	var tok *oauth2.Token
	eventually(t, func() error {
		var err error
		tok, err = exchangeConfig(id, gateway, url.Values{
			"subject_token": {batch}, "subject_token_type": {tokenserver.TokenTypeJWT}, "audience": {aud},
		}).Token(context.Background())
		return err
	}).Should(gomega.Succeed())
	claims := testhttp.JWTClaims(t, tok.AccessToken)
	if claims["sub"] != "system:serviceaccount:"+f.ns+":batch" || claims["scope"] != "reports.read" || tok.Extra("issued_token_type") != tokenserver.TokenTypeAccessToken {
		t.Fatalf("exchanged ServiceAccount token: %v", claims)
	}

	own, err := assertionConfig(issuer, id, gateway).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	delegated, err := exchangeConfig(id, gateway, url.Values{
		"subject_token": {tok.AccessToken}, "subject_token_type": {tokenserver.TokenTypeAccessToken},
		"actor_token": {own.AccessToken}, "actor_token_type": {tokenserver.TokenTypeAccessToken}, "audience": {aud},
	}).Token(context.Background())
	if err != nil {
		t.Fatalf("delegation: %v", err)
	}
	dc := testhttp.JWTClaims(t, delegated.AccessToken)
	if act, _ := dc["act"].(map[string]any); act["sub"] != tokenserver.ClientSubject(id) || dc["sub"] != claims["sub"] {
		t.Fatalf("delegated token: %v", dc)
	}

	_, err = exchangeConfig(id, gateway, url.Values{
		"subject_token": {serviceAccountToken(t, other.ns, "batch", []string{issuer}, nil)}, "subject_token_type": {tokenserver.TokenTypeJWT},
	}).Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_request" {
		t.Fatalf("another namespace's ServiceAccount as subject: %v, want 400 invalid_request", err)
	}
}

package tokenserver_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestDiscoveryAdvertisesWorkloadIdentity: client assertions (with their
// asymmetric algorithms only) at every endpoint that authenticates clients,
// and the token-exchange grant.
func TestDiscoveryAdvertisesWorkloadIdentity(t *testing.T) {
	r := do(t, mustRequest(t, http.MethodGet, issuer+"/.well-known/openid-configuration"))
	list := func(k string) []string {
		var out []string
		for _, v := range r.Body[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for _, k := range []string{"token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
		if !slices.Contains(list(k), "private_key_jwt") {
			t.Errorf("%s = %v lacks private_key_jwt", k, list(k))
		}
	}
	algs := list("token_endpoint_auth_signing_alg_values_supported")
	for _, want := range []string{"RS256", "ES256", "EdDSA", "PS256"} {
		if !slices.Contains(algs, want) {
			t.Errorf("signing algs %v lack %s", algs, want)
		}
	}
	for _, bad := range []string{"none", "HS256", "HS384", "HS512"} {
		if slices.Contains(algs, bad) {
			t.Errorf("signing algs %v include %s", algs, bad)
		}
	}
	if !slices.Contains(list("grant_types_supported"), "urn:ietf:params:oauth:grant-type:token-exchange") {
		t.Errorf("grant types %v lack token exchange", list("grant_types_supported"))
	}
}

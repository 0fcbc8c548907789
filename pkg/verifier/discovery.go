package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// discoveryPath is OpenID Connect Discovery 1.0 §4; Tokenwarden serves the
// same document at RFC 8414's path.
const discoveryPath = "/.well-known/openid-configuration"

// asymmetric are the algorithms a verifier may ever accept: never "none"
// (RFC 8725 §3.1), never an HMAC, which a public key could be confused for.
var asymmetric = map[jose.SignatureAlgorithm]bool{
	jose.RS256: true, jose.RS384: true, jose.RS512: true,
	jose.PS256: true, jose.PS384: true, jose.PS512: true,
	jose.ES256: true, jose.ES384: true, jose.ES512: true,
	jose.EdDSA: true,
}

// discovery is the part of the provider metadata the verifier uses.
type discovery struct {
	Issuer                string   `json:"issuer"`
	JWKSURI               string   `json:"jwks_uri"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	IDTokenAlgs           []string `json:"id_token_signing_alg_values_supported"`
	// AccessTokenAlgs is Tokenwarden's own field naming its access-token
	// algorithm.
	AccessTokenAlgs []string `json:"access_token_signing_alg_values_supported"`
}

// discover fetches the issuer's metadata and checks that it names the same
// issuer (Discovery §4.3), so that a document served elsewhere cannot
// substitute another issuer's keys.
func discover(ctx context.Context, client *http.Client, issuer string) (*discovery, error) {
	url := strings.TrimRight(issuer, "/") + discoveryPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: status %d", url, resp.StatusCode)
	}
	var d discovery
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	if d.Issuer != issuer {
		return nil, fmt.Errorf("discovery at %s names issuer %q, not %q", url, d.Issuer, issuer)
	}
	if d.JWKSURI == "" {
		return nil, fmt.Errorf("discovery at %s has no jwks_uri", url)
	}
	return &d, nil
}

// allowedAlgorithms is the allowlist: the configured algorithms, else those
// the issuer advertises for access tokens and id_tokens, always without none
// and HMAC. An empty result is an error: there is nothing safe to accept.
func allowedAlgorithms(configured []string, d *discovery) ([]jose.SignatureAlgorithm, error) {
	names := configured
	if len(names) == 0 {
		names = append(slices.Clone(d.AccessTokenAlgs), d.IDTokenAlgs...)
	}
	var algs []jose.SignatureAlgorithm
	for _, n := range names {
		a := jose.SignatureAlgorithm(n)
		if asymmetric[a] && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("no acceptable signing algorithm among %v (none and HMAC are never accepted)", names)
	}
	return algs, nil
}

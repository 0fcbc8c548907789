// Package verifier checks Tokenwarden access tokens in resource servers, as a
// function (Verifier.Verify) and as net/http middleware (Verifier.Require).
//
// A Verifier reads the issuer's discovery document once, then its JWKS with
// HTTP caching: keys are used for the response's max-age and revalidated with
// If-None-Match. A token signed with a kid the cache does not know triggers
// one refetch (the issuer rotated its keys), rate-limited by
// Config.MinRefetchInterval so forged kids cannot flood the issuer. A refetch
// replaces the key set, so a key the issuer removed (rotate=compromised) stops
// verifying from then on; until the next fetch, within max-age, a verifier
// still accepts it — use introspection where that matters.
//
// What is checked (RFC 9068 §4): the algorithm, against an allowlist from
// discovery that never contains "none" or an HMAC algorithm, and against the
// key's own alg; typ at+jwt, so an id_token is refused; the signature; iss;
// aud, which must contain one of Config.Audience; exp (required), nbf and iat
// with Config.Leeway; the presence of sub, client_id, iat and jti; the tenant
// claim when Config.TenantClaim is set; and, with Config.Introspection, that
// the issuer still reports the token active (RFC 7662), so a revocation takes
// effect at once.
//
// Failures follow RFC 6750 §3: 401 with
// `WWW-Authenticate: Bearer error="invalid_token"`, 403 with
// error="insufficient_scope" and the required scope, and a bare Bearer
// challenge for a request without a token. Verified claims are in the request
// context (ClaimsFromContext).
//
// The signatures and claims are checked by go-jose (github.com/go-jose/go-jose/v4
// and its jwt package); this package only decides what to ask of them.
package verifier

// Package workload gives pods OAuth 2.0 tokens from the Secrets Tokenwarden
// writes, as x/oauth2 token sources:
//
//   - ClientCredentialsSource, from an OAuthClient's mounted credential Secret
//     (client_id, client_secret, token_url, scope): tokens from the token
//     endpoint with the client_credentials grant, surviving secret rotation.
//   - TokenSecretSource, from a mounted workload token Secret
//     (spec.tokenSecrets): the token Tokenwarden keeps renewed in the Secret,
//     followed across the kubelet's atomic updates of the mount.
//
// Both are safe for concurrent use and do their own caching. NewClient wraps
// one in an *http.Client that sends "Authorization: Bearer ..." on every
// request. Prefer it to oauth2.NewClient, which adds a ReuseTokenSource that
// keeps serving a token until it expires and so would not notice a renewed or
// cleared token Secret until then.
//
// Mounted Secrets are read the way the kubelet writes them: through the
// "..data" symlink it swaps atomically, so a reader never pairs files from two
// versions. Package workloadtest writes a directory the same way for tests.
package workload

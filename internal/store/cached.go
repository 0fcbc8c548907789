package store

import "context"

type cachedOnlyKey struct{}

// CachedOnly marks ctx for lookups of ids whose records, if they exist at
// all, were written long enough ago that every cache holds them: a store
// that reads a cache then answers ErrNotFound for a record its cache lacks,
// instead of asking its source. The token server marks every id it cannot
// vouch was issued moments ago (an id without a valid stamp, or with an old
// one), so an invented refresh token or code costs no read of the API
// server. A record the cache does hold is handled as without the mark (an
// Update still re-decides a refusal on a fresh read).
func CachedOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, cachedOnlyKey{}, true)
}

// IsCachedOnly reports whether ctx carries the CachedOnly mark.
func IsCachedOnly(ctx context.Context) bool {
	v, _ := ctx.Value(cachedOnlyKey{}).(bool)
	return v
}

package controllers

import "time"

// The controllers' defaults, in one place. Options a caller sets (the
// operator's flags) are fields of the reconcilers and the Collector; these
// are what an unset field or an unset spec field means.
const (
	// defaultRefreshAtPercent is spec.tokenSecrets[].refreshAtPercent when
	// unset (the CRD defaults it too, for objects written before it did).
	defaultRefreshAtPercent = 80

	// tokenRetry is how soon a failed refresh is tried again; it is shorter
	// than the refresh-token grace window, so a token rotated but not
	// written can be presented again as an honest retry.
	tokenRetry = 2 * time.Second

	// DefaultCollectInterval is Collector.Interval when unset.
	DefaultCollectInterval = 10 * time.Minute

	// CodeRetention is how long an authorization-code record outlives its
	// code, so that a late second use is still recognised as one and revokes
	// what the first issued (RFC 6749 §4.1.2); the Collector removes records
	// after it.
	CodeRetention = 10 * time.Minute

	// revocationLeeway keeps a revocation record a little past its token's
	// expiry: verifiers accept an expired token within their clock-skew
	// leeway (30 s in internal/tokens), and a revoked one must stay refused.
	revocationLeeway = time.Minute
)

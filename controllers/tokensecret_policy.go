package controllers

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// renewalInput is what the renewal decision of one token Secret looks at:
// what the Secret holds and the clock, nothing else.
type renewalInput struct {
	// IssuedAt and ExpiresAt are the times the Secret records; zero when it
	// records none (or none that parses).
	IssuedAt, ExpiresAt time.Time
	Now                 time.Time
	// RefreshAtPercent is the share of the lifetime after which the tokens
	// are renewed; 0 means defaultRefreshAtPercent.
	RefreshAtPercent int32
	// Jitter is the seed of the jitter (jitterSeed of the client and Secret),
	// so the point is the same after a restart.
	Jitter uint64
}

// renewal is the decision: when the tokens are due, and whether that is now.
type renewal struct {
	// At is when the tokens are to be renewed; zero when they cannot be
	// kept at all (no lifetime recorded).
	At time.Time
	// Now is true when At has come (or there is no At).
	Now bool
}

// decideRenewal decides whether the tokens of a Secret must be renewed now
// and, if not, when. A token of unknown issue or expiry time is renewed at
// once: its schedule cannot be computed. The refresh point itself is
// refreshPoint; the boundary belongs to renewal (now == At renews).
func decideRenewal(in renewalInput) renewal {
	if in.IssuedAt.IsZero() || in.ExpiresAt.IsZero() {
		return renewal{Now: true}
	}
	at := refreshPoint(in.IssuedAt, in.ExpiresAt, in.RefreshAtPercent, in.Jitter)
	return renewal{At: at, Now: !in.Now.Before(at)}
}

// refreshPoint is when tokens issued at issued and expiring at expires are
// renewed: at pct percent of the lifetime, less a jitter of up to 5% of it
// derived from seed, so it is the same after a restart and spreads Secrets
// that were issued together. A lifetime that is not positive is due at
// issue.
func refreshPoint(issued, expires time.Time, pct int32, seed uint64) time.Time {
	life := expires.Sub(issued)
	if life <= 0 {
		return issued
	}
	if pct <= 0 {
		pct = defaultRefreshAtPercent
	}
	jitter := time.Duration(seed % uint64(life/20+1))
	return issued.Add(life * time.Duration(pct) / 100).Add(-jitter)
}

// jitterSeed is the jitter seed of one token Secret of a client. The digest
// is the one earlier releases used, so an upgrade keeps every schedule.
func jitterSeed(clientUID types.UID, secretName string) uint64 {
	sum := sha256.Sum256([]byte(string(clientUID) + "/" + secretName))
	return binary.BigEndian.Uint64(sum[:8])
}

package controllers

import (
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// secretSchedule is what a credential Secret records about its client secret's
// age: when the current secret was generated and, during a rotation overlap,
// when the previous one stops working. Zero times mean "not recorded".
type secretSchedule struct {
	rotatedAt         time.Time
	hasPrevious       bool
	previousExpiresAt time.Time
}

// rotationDecision is what to do with a client secret now.
type rotationDecision struct {
	rotate       bool
	dropPrevious bool
	// nextRotation is when the next rotation is due; zero without rotation.
	nextRotation time.Time
	// previousExpiresAt is when client_secret_previous stops working after
	// this decision is applied; zero when there is none.
	previousExpiresAt time.Time
	// requeueAfter is how long until the next decision changes; zero when
	// nothing is scheduled.
	requeueAfter time.Duration
}

// decideSecretRotation is the client secret rotation policy, a pure function of
// the spec, what the Secret records and the time. The previous secret is
// dropped once its overlap has passed, also when rotation was switched off in
// the meantime: a secret that was replaced never lives longer than promised.
func decideSecretRotation(now time.Time, rot *v1alpha1.SecretRotation, s secretSchedule) rotationDecision {
	d := rotationDecision{}
	if s.hasPrevious {
		if s.previousExpiresAt.IsZero() || !now.Before(s.previousExpiresAt) {
			d.dropPrevious = true
		} else {
			d.previousExpiresAt = s.previousExpiresAt
		}
	}
	if rot != nil && rot.Interval.Duration > 0 {
		rotatedAt := s.rotatedAt
		if rotatedAt.IsZero() {
			rotatedAt = now
		}
		d.nextRotation = rotatedAt.Add(rot.Interval.Duration)
		if !now.Before(d.nextRotation) {
			d.rotate = true
			d.dropPrevious = false
			d.nextRotation = now.Add(rot.Interval.Duration)
			d.previousExpiresAt = now.Add(rot.Overlap.Duration)
			if rot.Overlap.Duration <= 0 {
				d.previousExpiresAt = time.Time{}
			}
		}
	}
	d.requeueAfter = earliest(now, d.nextRotation, d.previousExpiresAt)
	return d
}

// earliest returns the time from now until the earliest non-zero moment, or
// zero when there is none. A moment already reached yields one second, so the
// caller comes back promptly rather than never.
func earliest(now time.Time, moments ...time.Time) time.Duration {
	var best time.Duration
	for _, m := range moments {
		if m.IsZero() {
			continue
		}
		d := m.Sub(now)
		if d <= 0 {
			d = time.Second
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best
}

package controllers

import (
	"testing"
	"time"
)

func TestDecideRenewal(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hour := t0.Add(time.Hour)
	// A Jitter seed of 0 gives no jitter.
	tests := []struct {
		name     string
		in       renewalInput
		wantAt   time.Time
		wantNow  bool
		atWithin time.Duration // tolerance on At below wantAt, for jitter
	}{
		{name: "no tokens recorded renew now", in: renewalInput{Now: t0}, wantNow: true},
		{name: "no issue time renews now", in: renewalInput{ExpiresAt: hour, Now: t0}, wantNow: true},
		{name: "no expiry renews now", in: renewalInput{IssuedAt: t0, Now: t0}, wantNow: true},
		{name: "just issued keeps, due at 80%", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: t0},
			wantAt: t0.Add(48 * time.Minute)},
		{name: "one nanosecond before the point keeps", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: t0.Add(48*time.Minute - 1)},
			wantAt: t0.Add(48 * time.Minute)},
		{name: "at the point renews", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: t0.Add(48 * time.Minute)},
			wantAt: t0.Add(48 * time.Minute), wantNow: true},
		{name: "expired renews", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: hour.Add(time.Second)},
			wantAt: t0.Add(48 * time.Minute), wantNow: true},
		{name: "percent honoured", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: t0.Add(29 * time.Minute), RefreshAtPercent: 50},
			wantAt: t0.Add(30 * time.Minute)},
		{name: "percent 95 at its point", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: t0.Add(57 * time.Minute), RefreshAtPercent: 95},
			wantAt: t0.Add(57 * time.Minute), wantNow: true},
		{name: "jitter moves the point earlier by under 5%", in: renewalInput{IssuedAt: t0, ExpiresAt: hour, Now: t0, Jitter: 1<<63 + 12345},
			wantAt: t0.Add(48 * time.Minute), atWithin: 3 * time.Minute},
		{name: "expiry before issue is due at issue", in: renewalInput{IssuedAt: hour, ExpiresAt: t0, Now: t0},
			wantAt: hour},
		{name: "expiry before issue, clock past issue renews", in: renewalInput{IssuedAt: t0, ExpiresAt: t0, Now: t0},
			wantAt: t0, wantNow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideRenewal(tt.in)
			if got.Now != tt.wantNow {
				t.Errorf("Now = %v, want %v", got.Now, tt.wantNow)
			}
			early := tt.wantAt.Sub(got.At)
			if early < 0 || early > tt.atWithin {
				t.Errorf("At = %v, want %v (up to %v earlier)", got.At, tt.wantAt, tt.atWithin)
			}
			if tt.atWithin > 0 && early == 0 {
				t.Errorf("At = %v: the seed gave no jitter", got.At)
			}
		})
	}
}

func TestRefreshPointJitterBounds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		life time.Duration
		seed uint64
	}{
		{name: "largest seed, one hour", life: time.Hour, seed: ^uint64(0)},
		{name: "one second", life: time.Second, seed: jitterSeed("uid", "a")},
		{name: "one nanosecond", life: 1, seed: ^uint64(0)},
		{name: "a year", life: 365 * 24 * time.Hour, seed: jitterSeed("uid", "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := refreshPoint(t0, t0.Add(tt.life), 80, tt.seed)
			nominal := t0.Add(tt.life * 80 / 100)
			if at.After(nominal) || nominal.Sub(at) > tt.life/20 {
				t.Errorf("point %v is outside [%v - 5%%, %v]", at, nominal, nominal)
			}
		})
	}
}

// TestJitterSeedStable pins the digest: it is what earlier releases used, so
// a restart or an upgrade keeps every Secret's schedule.
func TestJitterSeedStable(t *testing.T) {
	if a, b := jitterSeed("uid-1", "token"), jitterSeed("uid-1", "token"); a != b {
		t.Fatalf("seed differs between calls: %d, %d", a, b)
	}
	if jitterSeed("uid-1", "token") == jitterSeed("uid-2", "token") {
		t.Fatal("two clients share a seed")
	}
	// sha256("uid-1/token")[:8], big-endian.
	const want = 0x57822e2b0b114070
	if got := jitterSeed("uid-1", "token"); got != want {
		t.Errorf("jitterSeed = %#x, want %#x", got, want)
	}
}

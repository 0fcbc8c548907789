package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func TestDecideSecretRotation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rot := &v1alpha1.SecretRotation{Interval: metav1.Duration{Duration: 24 * time.Hour}, Overlap: metav1.Duration{Duration: time.Hour}}
	noOverlap := &v1alpha1.SecretRotation{Interval: metav1.Duration{Duration: 24 * time.Hour}}
	tests := []struct {
		name  string
		now   time.Time
		rot   *v1alpha1.SecretRotation
		sched secretSchedule
		want  rotationDecision
	}{
		{"no rotation, nothing scheduled", t0, nil, secretSchedule{rotatedAt: t0}, rotationDecision{}},
		{"not yet due", t0.Add(23 * time.Hour), rot, secretSchedule{rotatedAt: t0},
			rotationDecision{nextRotation: t0.Add(24 * time.Hour), requeueAfter: time.Hour}},
		{"due exactly", t0.Add(24 * time.Hour), rot, secretSchedule{rotatedAt: t0},
			rotationDecision{rotate: true, nextRotation: t0.Add(48 * time.Hour), previousExpiresAt: t0.Add(25 * time.Hour), requeueAfter: time.Hour}},
		{"overdue after downtime rotates once from now", t0.Add(100 * time.Hour), rot, secretSchedule{rotatedAt: t0},
			rotationDecision{rotate: true, nextRotation: t0.Add(124 * time.Hour), previousExpiresAt: t0.Add(101 * time.Hour), requeueAfter: time.Hour}},
		{"in overlap keeps previous", t0.Add(30 * time.Minute), rot, secretSchedule{rotatedAt: t0, hasPrevious: true, previousExpiresAt: t0.Add(time.Hour)},
			rotationDecision{nextRotation: t0.Add(24 * time.Hour), previousExpiresAt: t0.Add(time.Hour), requeueAfter: 30 * time.Minute}},
		{"overlap over drops previous", t0.Add(time.Hour), rot, secretSchedule{rotatedAt: t0, hasPrevious: true, previousExpiresAt: t0.Add(time.Hour)},
			rotationDecision{dropPrevious: true, nextRotation: t0.Add(24 * time.Hour), requeueAfter: 23 * time.Hour}},
		{"previous without expiry is dropped", t0, rot, secretSchedule{rotatedAt: t0, hasPrevious: true},
			rotationDecision{dropPrevious: true, nextRotation: t0.Add(24 * time.Hour), requeueAfter: 24 * time.Hour}},
		{"rotation switched off mid-overlap still expires previous", t0.Add(10 * time.Minute), nil, secretSchedule{rotatedAt: t0, hasPrevious: true, previousExpiresAt: t0.Add(time.Hour)},
			rotationDecision{previousExpiresAt: t0.Add(time.Hour), requeueAfter: 50 * time.Minute}},
		{"unknown rotation time starts the clock now", t0, rot, secretSchedule{},
			rotationDecision{nextRotation: t0.Add(24 * time.Hour), requeueAfter: 24 * time.Hour}},
		{"zero overlap keeps no previous", t0.Add(24 * time.Hour), noOverlap, secretSchedule{rotatedAt: t0},
			rotationDecision{rotate: true, nextRotation: t0.Add(48 * time.Hour), requeueAfter: 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideSecretRotation(tt.now, tt.rot, tt.sched); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

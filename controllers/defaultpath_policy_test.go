package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func TestDecideDefaultPath(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	obj := func(ns, name string, age int) *v1alpha1.OAuthClient {
		return &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name),
			CreationTimestamp: metav1.NewTime(base.Add(-time.Duration(age) * time.Hour))}}
	}
	old, mid, young := obj("a", "old", 3), obj("b", "mid", 2), obj("c", "young", 1)
	tests := []struct {
		name    string
		self    pathClaim
		others  []pathClaim
		blocked string
	}{
		{"alone", pathClaim{obj: young}, nil, ""},
		{"a holder keeps the path against an older claimant", pathClaim{obj: young, holds: true}, []pathClaim{{obj: old}}, ""},
		{"an older claimant cannot take a held path", pathClaim{obj: old}, []pathClaim{{obj: young, holds: true}}, "c/young"},
		{"a free path goes to the oldest claimant", pathClaim{obj: young}, []pathClaim{{obj: mid}, {obj: old}}, "a/old"},
		{"the oldest claimant takes a free path", pathClaim{obj: old}, []pathClaim{{obj: mid}, {obj: young}}, ""},
		{"of two holders the older keeps it", pathClaim{obj: young, holds: true}, []pathClaim{{obj: mid, holds: true}}, "b/mid"},
		{"the older of two holders keeps it", pathClaim{obj: mid, holds: true}, []pathClaim{{obj: young, holds: true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideDefaultPath(tt.self, tt.others); got != tt.blocked {
				t.Fatalf("blocked by %q, want %q", got, tt.blocked)
			}
		})
	}
}

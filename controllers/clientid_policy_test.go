package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func TestClientIDRefusal(t *testing.T) {
	tests := []struct {
		name    string
		id, ns  string
		policy  clientIDPolicy
		refused string // a part of the message; "" when allowed
	}{
		{name: "own prefix", id: "teama.billing", ns: "teama"},
		{name: "own prefix, nested dots", id: "teama.billing.v2", ns: "teama"},
		{name: "own prefix needs no annotation even when the prefix namespace exists", id: "teama.x", ns: "teama", policy: clientIDPolicy{prefixNamespaceExists: true}},
		{name: "another namespace's prefix", id: "teamb.payments", ns: "evil", refused: "must begin with \"evil.\""},
		{name: "a namespace name without the dot is no prefix", id: "teamapayments", ns: "teama", refused: "must begin with"},
		{name: "prefix of a longer namespace name", id: "team.x", ns: "teama", refused: "must begin with"},
		{name: "UUID without the annotation", id: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", ns: "legacy", refused: "allow-unprefixed-client-ids"},
		{name: "UUID with the annotation", id: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", ns: "legacy", policy: clientIDPolicy{unprefixedAllowed: true}},
		{name: "dotted legacy id with the annotation", id: "com.example.app", ns: "legacy", policy: clientIDPolicy{unprefixedAllowed: true}},
		{name: "annotation does not reach an existing namespace's space", id: "teamb.payments", ns: "legacy",
			policy: clientIDPolicy{unprefixedAllowed: true, prefixNamespaceExists: true}, refused: "belong to that namespace (teamb)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientIDRefusal(tt.id, tt.ns, tt.policy)
			if tt.refused == "" && got != "" {
				t.Fatalf("refused: %s", got)
			}
			if tt.refused != "" && !strings.Contains(got, tt.refused) {
				t.Fatalf("refusal %q does not contain %q", got, tt.refused)
			}
		})
	}
}

func TestDecideClientID(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// claim is a client of ns created age seconds after base.
	claim := func(ns, name string, age int, holds bool) idClaim {
		return idClaim{obj: &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(ns + "-" + name),
			CreationTimestamp: metav1.NewTime(base.Add(time.Duration(age) * time.Second)),
		}}, holds: holds}
	}
	yielded := func(c idClaim) idClaim { c.yielded = true; return c }
	tests := []struct {
		name          string
		self          idClaim
		others        []idClaim
		blockedBy     string
		heldElsewhere bool
		yielded       bool
		contested     []string
	}{
		{name: "alone", self: claim("a", "app", 0, false)},
		{name: "holder keeps against an older claimant", self: claim("a", "app", 5, true), others: []idClaim{claim("b", "squat", 0, false)}},
		{name: "held in the namespace", self: claim("a", "app", 0, false), others: []idClaim{claim("a", "old", 5, true)}, blockedBy: "a/old"},
		{name: "held in another namespace: yield", self: claim("a", "app", 0, false), others: []idClaim{claim("b", "old", 5, true)}, blockedBy: "b/old", heldElsewhere: true},
		{name: "two hold it for a moment: the older keeps", self: claim("a", "new", 5, true), others: []idClaim{claim("a", "old", 0, true)}, blockedBy: "a/old"},
		{name: "two hold it for a moment: self is older", self: claim("a", "old", 0, true), others: []idClaim{claim("a", "new", 5, true)}},
		{name: "free, one namespace: the oldest takes it", self: claim("a", "new", 5, false), others: []idClaim{claim("a", "mid", 3, false), claim("a", "old", 1, false)}, blockedBy: "a/old"},
		{name: "free, one namespace: self is the oldest", self: claim("a", "old", 0, false), others: []idClaim{claim("a", "new", 5, false)}},
		{name: "free, two namespaces: nobody, self older", self: claim("a", "victim", 0, false), others: []idClaim{claim("b", "squat", 5, false)}, contested: []string{"a", "b"}},
		{name: "free, two namespaces: nobody, self newer", self: claim("b", "squat", 5, false), others: []idClaim{claim("a", "victim", 0, false)}, contested: []string{"a", "b"}},
		{name: "GitOps replace, the gap: the squatter that waited does not take it", self: yielded(claim("b", "squat", 1, false)), yielded: true},
		{name: "GitOps replace: the re-created victim takes it back past the squatter", self: claim("a", "app", 60, false),
			others: []idClaim{yielded(claim("b", "squat", 1, false))}},
		{name: "a yielded claimant is not told whether the holder is still there", self: yielded(claim("b", "squat", 1, false)),
			others: []idClaim{claim("a", "app", 60, true)}, yielded: true},
		{name: "a claimant created while the id is free takes it (the race README documents)",
			self: claim("b", "second", 9, false), others: []idClaim{yielded(claim("b", "squat", 1, false))}},
		{name: "fresh claimants of two namespaces besides a yielded one", self: claim("a", "app", 60, false),
			others: []idClaim{yielded(claim("b", "squat", 1, false)), claim("c", "other", 61, false)}, contested: []string{"a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := decideClientID(tt.self, tt.others)
			want := idVerdict{blockedBy: tt.blockedBy, heldElsewhere: tt.heldElsewhere, yielded: tt.yielded, contested: tt.contested}
			if v.blockedBy != want.blockedBy || v.heldElsewhere != want.heldElsewhere || v.yielded != want.yielded || !slices.Equal(v.contested, want.contested) {
				t.Fatalf("verdict %+v, want %+v", v, want)
			}
			if v.ok() != (tt.blockedBy == "" && !tt.yielded && tt.contested == nil) {
				t.Fatalf("ok() = %v for %+v", v.ok(), v)
			}
		})
	}
}

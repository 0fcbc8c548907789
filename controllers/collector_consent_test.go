package controllers

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

func TestConsentDropReason(t *testing.T) {
	owners := &namespaceOwners{
		clients: map[types.UID]bool{"client": true},
		users:   map[types.UID]bool{"alice": false, "carol": true},
	}
	tests := []struct {
		name   string
		client types.UID
		user   types.UID
		owners *namespaceOwners
		want   string
	}{
		{"live", "client", "alice", owners, ""},
		{"user disabled", "client", "carol", owners, collectOrphaned},
		{"user deleted or re-created", "client", "bob", owners, collectOrphaned},
		{"client deleted or re-created", "other", "alice", owners, collectOrphaned},
		{"owners unknown (failed listing)", "other", "bob", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := consentDropReason(&store.Consent{ClientUID: tt.client, UserUID: tt.user}, tt.owners); got != tt.want {
				t.Fatalf("consentDropReason = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCollectorConsents: a consent ends when its user is disabled or deleted
// or its client deleted; the consents of live pairs, also of the same UIDs
// in another namespace's listing, stay.
func TestCollectorConsents(t *testing.T) {
	ctx := context.Background()
	f := newCollectorFixture(t, nil,
		&v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "cli", UID: "client"}},
		&v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "alice", UID: "alice"}},
		&v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "carol", UID: "carol"}, Spec: v1alpha1.OAuthUserSpec{Disabled: true}},
		&v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "cli", UID: "client-b"}},
		&v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "alice", UID: "alice-b"}},
	)
	f.c.Consents = f.mem.Consents
	put := func(ns string, client, user types.UID) string {
		id := store.ConsentID(client, user)
		if err := f.mem.Consents.Create(ctx, ns, id, &store.Consent{ClientUID: client, UserUID: user, Scopes: []string{"openid"}}, store.Owner{}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	live := put("a", "client", "alice")
	put("a", "client", "carol")   // disabled
	put("a", "client", "deleted") // user gone
	put("a", "gone", "alice")     // client gone
	put("b", "client", "alice")   // UIDs of namespace a, not of b
	liveB := put("b", "client-b", "alice-b")
	st, err := f.c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.OrphanedConsents != 4 {
		t.Fatalf("collected %+v, want 4 orphaned consents", st)
	}
	for _, k := range []struct{ ns, id string }{{"a", live}, {"b", liveB}} {
		if _, err := f.mem.Consents.Get(ctx, k.ns, k.id); err != nil {
			t.Fatalf("live consent %s/%s: %v", k.ns, k.id, err)
		}
	}
	if f.mem.Consents.Len() != 2 {
		t.Fatalf("%d consents left, want 2", f.mem.Consents.Len())
	}
}

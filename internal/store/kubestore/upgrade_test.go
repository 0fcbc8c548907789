package kubestore_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// previousFamily is a refresh family exactly as the previous release wrote
// it (tokenserver/refresh_store.go before the store split): its JSON field
// names, labels and owner reference, built by hand.
const previousFamily = `{"clientUID":"uid-app","clientID":"ns.app","userUID":"uid-alice",` +
	`"scopes":["openid","profile"],"audience":["api"],"authTime":"2026-03-01T11:00:00Z",` +
	`"createdAt":"2026-03-01T11:00:00Z","expiresAt":"2026-03-31T11:00:00Z","idleTTL":604800000000000,` +
	`"lastUsedAt":"2026-03-01T11:30:00Z","current":"digest-b","previous":"digest-a",` +
	`"rotatedAt":"2026-03-01T11:30:00Z","source":"password"}`

// TestUpgradeFamily: a family stored by the previous release in the
// client's namespace, before this version first ran, is read and rotated by
// this one: it is moved into the operator namespace on first use (before
// the leader's migration got to it), keeps its JSON, and is gone from the
// tenant namespace.
func TestUpgradeFamily(t *testing.T) {
	ctx := context.Background()
	ns, opns := env.Namespace(t), env.Namespace(t)
	no := false
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "twrf-00112233445566778899aabbccddeeff",
			Labels: map[string]string{"tokenwarden.dev/kind": "refresh-family", "app.kubernetes.io/managed-by": "tokenwarden", "tokenwarden.dev/client": "app"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "oauth.tokenwarden.dev/v1alpha1", Kind: "OAuthUser", Name: "alice", UID: "uid-alice",
				Controller: &no, BlockOwnerDeletion: &no,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"family": []byte(previousFamily)},
	})
	startVersion(t, opns)
	st := newStores(opns, mgr.GetAPIReader()).Families
	id := "00112233445566778899aabbccddeeff"
	f, err := st.Get(ctx, ns, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	want := store.Family{
		ClientUID: "uid-app", ClientID: "ns.app", UserUID: "uid-alice", Scopes: []string{"openid", "profile"}, Audience: []string{"api"},
		AuthTime: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), CreatedAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
		ExpiresAt: time.Date(2026, 3, 31, 11, 0, 0, 0, time.UTC), IdleTTL: 168 * time.Hour,
		LastUsedAt: time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC), Current: "digest-b", Previous: "digest-a",
		RotatedAt: time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC), Source: "password",
	}
	if !familiesEqual(f, &want) {
		t.Fatalf("decoded %+v\nwant    %+v", f, want)
	}
	if f.Expired(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("a family alive under the previous release is expired")
	}
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if _, err := st.Update(ctx, ns, id, func(f *store.Family) (store.Op, error) {
		if f.Current != "digest-b" {
			return store.Keep, errRefused
		}
		f.Previous, f.Current, f.RotatedAt, f.LastUsedAt = f.Current, "digest-c", now, now
		return store.Write, nil
	}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	var s corev1.Secret
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "twrf-" + id}, &s); !apierrors.IsNotFound(err) {
		t.Fatalf("the previous release's Secret after the move: %v", err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: opns, Name: "twrf-" + ns + "." + id}, &s); err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := json.Unmarshal([]byte(previousFamily), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(s.Data["family"], &after); err != nil {
		t.Fatalf("stored family: %v", err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after))) {
		t.Fatalf("fields changed: %v → %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	if after["current"] != "digest-c" || after["previous"] != "digest-b" || after["idleTTL"] != before["idleTTL"] || after["rotatedAt"] != "2026-03-02T00:00:00Z" {
		t.Fatalf("rotated family: %v", after)
	}
	wantLabels := map[string]string{
		"tokenwarden.dev/kind": "refresh-family", "app.kubernetes.io/managed-by": "tokenwarden", "tokenwarden.dev/client": "app",
		"tokenwarden.dev/namespace": ns, "tokenwarden.dev/client-uid": "uid-app", "tokenwarden.dev/user-uid": "uid-alice",
	}
	if len(s.Data) != 1 || !maps.Equal(s.Labels, wantLabels) || len(s.OwnerReferences) != 0 {
		t.Fatalf("moved Secret: data %d keys, labels %v, owners %v", len(s.Data), s.Labels, s.OwnerReferences)
	}
}

func familiesEqual(a, b *store.Family) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// previousCode is an authorization-code record as the previous release
// wrote it (tokenserver/authcode_store.go), not yet redeemed.
const previousCode = `{"digest":"code-digest","clientUID":"uid-app","userUID":"uid-alice",` +
	`"redirectURI":"https://app.example/cb","redirectURIGiven":true,"scopes":["openid"],"nonce":"n",` +
	`"challenge":"ch","challengeMethod":"S256","authTime":"2026-03-01T11:59:00Z","expiresAt":"2026-03-01T12:01:00Z"}`

// TestUpgradeCode: a pending code stored by the previous release is
// redeemed by this one.
func TestUpgradeCode(t *testing.T) {
	ctx := context.Background()
	ns, opns := env.Namespace(t), env.Namespace(t)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "twrc-0011223344556677889900112233445566778899",
			Labels: map[string]string{"tokenwarden.dev/kind": "authorization-code", "app.kubernetes.io/managed-by": "tokenwarden"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"code": []byte(previousCode)},
	})
	startVersion(t, opns)
	st := newStores(opns, mgr.GetAPIReader()).Codes
	redeemed := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	c, err := st.Update(ctx, ns, "0011223344556677889900112233445566778899", func(c *store.AuthCode) (store.Op, error) {
		if c.Redeemed() || c.Digest != "code-digest" || !c.RedirectURIGiven || c.ChallengeMethod != "S256" {
			return store.Keep, errRefused
		}
		c.RedeemedAt, c.FamilyID = redeemed, "fam"
		return store.Write, nil
	})
	if err != nil || !c.RedeemedAt.Equal(redeemed) || c.Nonce != "n" {
		t.Fatalf("redeem: %+v, %v", c, err)
	}
}

package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// previousFamilyJSON is a refresh family in exactly the form the previous
// release stored it (tokenserver/refresh_store.go before the store split):
// its field names and encodings written by hand, not by today's types.
func previousFamilyJSON(clientUID, clientID, userUID, current string, scopes []string, now time.Time) string {
	ts := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	sc, _ := json.Marshal(scopes)
	return fmt.Sprintf(`{"clientUID":%q,"clientID":%q,"userUID":%q,"scopes":%s,"audience":null,`+
		`"authTime":%q,"createdAt":%q,"expiresAt":%q,"idleTTL":%d,"lastUsedAt":%q,"current":%q,`+
		`"rotatedAt":%q,"source":"127.0.0.1"}`,
		clientUID, clientID, userUID, sc, ts(-time.Hour), ts(-time.Hour), ts(719*time.Hour), int64(168*time.Hour),
		ts(-30*time.Minute), current, ts(-30*time.Minute))
}

// TestUpgradeRefreshFamily: a refresh token whose family Secret the previous
// release wrote (name twrf-<32 hex>, data key "family", its labels and owner
// reference) refreshes through the token endpoint of this release, with the
// scopes the client has now, and the family keeps its stored form.
func TestUpgradeRefreshFamily(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	u, _ := f.user("alice", v1alpha1.OAuthUserSpec{})
	var c v1alpha1.OAuthClient
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "app"}, &c); err != nil {
		t.Fatal(err)
	}

	famID, tokSecret := randomHex(t, 16), base64.RawURLEncoding.EncodeToString([]byte(randomHex(t, 16)))
	sum := sha256.Sum256([]byte(tokSecret))
	// The family was granted orders.write too, which the client has lost
	// since.
	raw := previousFamilyJSON(string(c.UID), id, string(u.UID), hex.EncodeToString(sum[:]), []string{"orders.read", "orders.write"}, time.Now())
	no := false
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:   "twrf-" + famID,
			Labels: map[string]string{"tokenwarden.dev/kind": "refresh-family", "app.kubernetes.io/managed-by": "tokenwarden", "tokenwarden.dev/client": "app"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "oauth.tokenwarden.dev/v1alpha1", Kind: "OAuthUser", Name: u.Name, UID: u.UID,
				Controller: &no, BlockOwnerDeletion: &no,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"family": []byte(raw)},
	})
	old := "twr_" + famID + "_" + tokSecret

	r := rfRefresh(t, issuer, id, secret, old)
	next := rfOK(t, r, "refresh of a family stored by the previous release")
	if r.body["scope"] != "orders.read" {
		t.Fatalf("scope %v, want the client's current orders.read", r.body["scope"])
	}
	if fam, _ := rfTokenParts(t, next); fam != famID {
		t.Fatalf("the successor is in family %s, want %s", fam, famID)
	}

	s, err := rfFamilySecret(t, f.ns, next)
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := json.Unmarshal([]byte(raw), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(s.Data["family"], &after); err != nil {
		t.Fatalf("stored family: %v", err)
	}
	_, nextSecret := rfTokenParts(t, next)
	nextSum := sha256.Sum256([]byte(nextSecret))
	if after["current"] != hex.EncodeToString(nextSum[:]) || after["previous"] != before["current"] {
		t.Fatalf("rotated family: current %v previous %v", after["current"], after["previous"])
	}
	// The rotation adds previous (omitted while empty) and changes no other
	// field name.
	want := append(slices.Sorted(maps.Keys(before)), "previous")
	if got := slices.Sorted(maps.Keys(after)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("fields changed: %v → %v", slices.Sorted(maps.Keys(before)), got)
	}
	if len(s.Data) != 1 || s.Labels["tokenwarden.dev/client"] != "app" || s.Labels["tokenwarden.dev/kind"] != "refresh-family" || len(s.OwnerReferences) != 1 {
		t.Fatalf("rotation changed the Secret's shape: data %d keys, labels %v, owners %v", len(s.Data), s.Labels, s.OwnerReferences)
	}
	// The family goes on in this release, and the old token is now a
	// superseded one (a replay once the grace window is over).
	rfOK(t, rfRefresh(t, issuer, id, secret, next), "refresh of the successor")
	if strings.Contains(string(s.Data["family"]), tokSecret) {
		t.Fatal("the family holds a token in plaintext")
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

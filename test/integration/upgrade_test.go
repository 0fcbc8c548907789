package integration_test

import (
	"context"
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

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
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

// simulateUpgrade makes the suite's operator look as if it had not run yet:
// the store cutoff and the migration marker go. It returns what this
// version does at start (record the cutoff); run it once the previous
// release's records are written. The migration is recorded done again when
// the test ends.
func simulateUpgrade(t *testing.T) (start func()) {
	t.Helper()
	ctx := context.Background()
	opts := kubestore.Options{Cache: mgr.GetClient(), Live: mgr.GetAPIReader(), Writer: env.Client, Namespace: operatorNamespace}
	for _, name := range []string{kubestore.MigratedSecretName, kubestore.CutoffSecretName} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name}}
		if err := env.Client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		eventually(t, func() bool {
			return apierrors.IsNotFound(mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(s), &corev1.Secret{}))
		}).Should(gomega.BeTrue())
	}
	t.Cleanup(func() {
		if _, err := kubestore.Migrate(ctx, opts); err != nil {
			t.Errorf("migrate: %v", err)
		}
	})
	return func() {
		if err := kubestore.RecordCutoff(ctx, opts); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpgradeRefreshFamily: a refresh token whose family Secret the previous
// release wrote (name twrf-<32 hex> in the client's namespace, data key
// "family", its labels and owner reference) refreshes through the token
// endpoint of this release, with the scopes the client has now; the family
// is moved into the operator namespace on first use (the leader's migration
// has not reached it) and keeps its JSON.
func TestUpgradeRefreshFamily(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	start := simulateUpgrade(t)
	id, secret := f.client("app", servertest.RefreshClient("orders.read"))
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
	start()

	r := servertest.RefreshGrant(t, issuer, id, secret, old)
	next := servertest.WantRefreshToken(t, r, "refresh of a family stored by the previous release")
	if r.Body["scope"] != "orders.read" {
		t.Fatalf("scope %v, want the client's current orders.read", r.Body["scope"])
	}
	if fam, _ := servertest.TokenParts(t, next); fam != famID {
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
	_, nextSecret := servertest.TokenParts(t, next)
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
	if len(s.Data) != 1 || s.Labels["tokenwarden.dev/client"] != "app" || s.Labels["tokenwarden.dev/kind"] != "refresh-family" ||
		s.Labels["tokenwarden.dev/namespace"] != f.ns || len(s.OwnerReferences) != 0 {
		t.Fatalf("moved Secret: data %d keys, labels %v, owners %v", len(s.Data), s.Labels, s.OwnerReferences)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "twrf-" + famID}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the previous release's Secret after the move: %v", err)
	}
	// The family goes on in this release, and the old token is now a
	// superseded one (a replay once the grace window is over).
	servertest.WantRefreshToken(t, servertest.RefreshGrant(t, issuer, id, secret, next), "refresh of the successor")
	if strings.Contains(string(s.Data["family"]), tokSecret) {
		t.Fatal("the family holds a token in plaintext")
	}
}

// TestForgedFamilyYieldsNoToken is attack 6 over HTTP: with this release
// running, anyone who may write Secrets in a client's namespace writes a
// family record there, in the previous release's place and form (or this
// release's name), for a user of the namespace, with the digest of a secret
// of its choosing, and presents the matching refresh token: invalid_grant,
// and the forgery stays where it was, unread.
func TestForgedFamilyYieldsNoToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id, secret := f.client("app", servertest.RefreshClient("orders.read"))
	u, _ := f.user("victim", v1alpha1.OAuthUserSpec{})
	var c v1alpha1.OAuthClient
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "app"}, &c); err != nil {
		t.Fatal(err)
	}
	famID, tokSecret := randomHex(t, 16), base64.RawURLEncoding.EncodeToString([]byte(randomHex(t, 16)))
	sum := sha256.Sum256([]byte(tokSecret))
	raw := previousFamilyJSON(string(c.UID), id, string(u.UID), hex.EncodeToString(sum[:]), []string{"orders.read"}, time.Now())
	for _, name := range []string{"twrf-" + famID, kubestore.RecordName(kubestore.FamilySecretPrefix, f.ns, famID)} {
		f.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{"tokenwarden.dev/kind": "refresh-family", "app.kubernetes.io/managed-by": "tokenwarden",
					"tokenwarden.dev/client": "app", "tokenwarden.dev/namespace": f.ns},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"family": []byte(raw)},
		})
	}
	servertest.WantError(t, servertest.RefreshGrant(t, issuer, id, secret, "twr_"+famID+"_"+tokSecret), 400, "invalid_grant", "refresh with a forged family")
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "twrf-" + famID}, &corev1.Secret{}); err != nil {
		t.Fatalf("the forgery was moved or deleted: %v", err)
	}
	if err := env.Client.Get(ctx, rfFamilyKey(t, f.ns, "twr_"+famID+"_"+tokSecret), &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a record in the operator namespace: %v", err)
	}
}

package tenancy_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/onsi/gomega"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// The upgrade path: what the previous release let a client do and keep.
// seedPreviousRelease writes it before the manager of this release first
// starts, as an upgrade finds it.
const (
	upgradeAppNamespace = "upgrade-app"
	upgradeAPINamespace = "upgrade-api"
	upgradeAudience     = "https://payments.upgrade-api.example"
)

// previousRelease is what seedPreviousRelease left, set once in TestMain.
var previousRelease struct {
	refreshToken string
	familySecret types.NamespacedName
}

// previousFamilyJSON is a refresh family exactly as the previous release
// stored it (test/integration pins the same form), written by hand.
func previousFamilyJSON(clientUID, clientID, userUID, current string, scopes, audience []string, now time.Time) string {
	ts := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	sc, _ := json.Marshal(scopes)
	aud, _ := json.Marshal(audience)
	return fmt.Sprintf(`{"clientUID":%q,"clientID":%q,"userUID":%q,"scopes":%s,"audience":%s,`+
		`"authTime":%q,"createdAt":%q,"expiresAt":%q,"idleTTL":%d,"lastUsedAt":%q,"current":%q,`+
		`"rotatedAt":%q,"source":"127.0.0.1"}`,
		clientUID, clientID, userUID, sc, aud, ts(-time.Hour), ts(-time.Hour), ts(719*time.Hour), int64(168*time.Hour),
		ts(-30*time.Minute), current, ts(-30*time.Minute))
}

// familySecret is a refresh family Secret in the previous release's place
// (the client's namespace) and form (name twrf-<id>, data key family, its
// labels, owned by the user), for user and clientName. It returns the
// Secret and the matching refresh token.
func familySecret(ns, clientName string, user *v1alpha1.OAuthUser, family func(current string) string) (*corev1.Secret, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	id, secret := hex.EncodeToString(b[:16]), base64.RawURLEncoding.EncodeToString(b[16:])
	sum := sha256.Sum256([]byte(secret))
	no := false
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "twrf-" + id,
			Labels: map[string]string{"tokenwarden.dev/kind": "refresh-family", "app.kubernetes.io/managed-by": "tokenwarden", "tokenwarden.dev/client": clientName},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "oauth.tokenwarden.dev/v1alpha1", Kind: "OAuthUser", Name: user.Name, UID: user.UID,
				Controller: &no, BlockOwnerDeletion: &no,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"family": []byte(family(hex.EncodeToString(sum[:])))},
	}
	return s, "twr_" + id + "_" + secret, nil
}

// seedPreviousRelease creates, before the manager starts, a client that
// declared another namespace's audience and scopes for itself (the previous
// release honoured that), the API holding that audience, which grants it
// nothing, a user, and a refresh family the previous release issued with
// that audience and scope.
func seedPreviousRelease(ctx context.Context, c client.Client) error {
	for _, ns := range []string{upgradeAppNamespace, upgradeAPINamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	res := &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: upgradeAPINamespace, Name: "payments"},
		Spec: v1alpha1.OAuthResourceSpec{Audience: upgradeAudience, Scopes: []string{"payments.admin"}}}
	app := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: upgradeAppNamespace, Name: "legacy"},
		Spec: v1alpha1.OAuthClientSpec{
			GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
			Scopes:     []string{"payments.admin", "orders.read"}, Audiences: []string{upgradeAudience},
		}}
	user := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: upgradeAppNamespace, Name: "erin"}}
	for _, obj := range []client.Object{res, app, user} {
		if err := c.Create(ctx, obj); err != nil {
			return err
		}
	}
	s, tok, err := familySecret(upgradeAppNamespace, app.Name, user, func(current string) string {
		return previousFamilyJSON(string(app.UID), upgradeAppNamespace+".legacy", string(user.UID), current,
			[]string{"payments.admin", "orders.read"}, []string{upgradeAudience}, time.Now())
	})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, s); err != nil {
		return err
	}
	previousRelease.refreshToken, previousRelease.familySecret = tok, client.ObjectKeyFromObject(s)
	return nil
}

// Upgrade: the client that declared another namespace's audience under the
// previous release shows it refused in status, and the refresh family the
// previous release issued with that audience keeps working, in this
// release's place, but its tokens no longer carry the audience or the
// resource's scope.
func TestUpgradeSelfDeclaredAudienceStopsReachingTokens(t *testing.T) {
	ctx := context.Background()
	app := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: upgradeAppNamespace, Name: "legacy"}}
	waitCondition(t, app, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitCondition(t, app, v1alpha1.ConditionAudiencesGranted, metav1.ConditionFalse, "AudienceRefused")
	if st := app.Status.Audiences; len(st) != 1 || st[0].Audience != upgradeAudience || st[0].Granted || st[0].Reason != "NotGranted" {
		t.Fatalf("status.audiences %+v, want %s refused as NotGranted", st, upgradeAudience)
	}
	var s corev1.Secret
	eventually(t, func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Status.SecretName}, &s)
	}).Should(gomega.Succeed())
	id, secret := app.Status.ClientID, string(s.Data["client_secret"])
	waitCached(t, &v1alpha1.OAuthClient{}, app, func(o client.Object) bool { return o.(*v1alpha1.OAuthClient).Status.ClientID == id })

	tok := previousRelease.refreshToken
	for i := range 2 {
		body, claims := wantToken(t, postForm(t, "/oauth/token", id, secret, "grant_type", "refresh_token", "refresh_token", tok))
		if got := testhttp.Audiences(claims); slices.Contains(got, upgradeAudience) || !slices.Equal(got, []string{id}) {
			t.Fatalf("refresh %d: aud %v, want only the client itself", i, got)
		}
		if got := scopes(claims); !slices.Equal(got, []string{"orders.read"}) {
			t.Fatalf("refresh %d: scope %v, want the client's own orders.read only", i, got)
		}
		tok, _ = body["refresh_token"].(string)
	}
	// The family left the tenant's namespace, where the tenant could write.
	eventually(t, func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, previousRelease.familySecret, &corev1.Secret{}))
	}).Should(gomega.BeTrue(), "the previous release's family Secret moved out of %s", upgradeAppNamespace)
	// A scope the resource defines stays refused when asked for.
	wantError(t, postForm(t, "/oauth/token", id, secret, "grant_type", "refresh_token", "refresh_token", tok, "scope", "payments.admin"),
		http.StatusBadRequest, "invalid_scope")
}

package tenancy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// The suite's caps (--max-families-per-user, --max-revocations-per-client),
// small so that a test reaches them.
const (
	maxFamiliesPerUser      = 3
	maxRevocationsPerClient = 3
)

// Attack 6, first half: the attacker writes a refresh family record into its
// own namespace, in the previous release's stored form, for a user of its
// namespace whose password it does not know, with the digest of a secret it
// chose, and presents the matching refresh token: invalid_grant. Where this
// release keeps its records, the operator's namespace, it cannot write.
func TestAttackForgedRefreshFamily(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	h, err := bcrypt.GenerateFromPassword([]byte("dave's own password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	dave, _ := newUser(t, env.Client, w.evil, "dave", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: string(h)}})
	id, secret := newClient(t, w.attacker, w.evil, "app", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken}, Scopes: []string{"openid", "offline_access"},
	})
	var app v1alpha1.OAuthClient
	if err := w.attacker.Get(ctx, client.ObjectKey{Namespace: w.evil, Name: "app"}, &app); err != nil {
		t.Fatal(err)
	}
	forged, tok, err := familySecret(w.evil, app.Name, dave, func(current string) string {
		return previousFamilyJSON(string(app.UID), id, string(dave.UID), current, []string{"openid", "offline_access"}, nil, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	create(t, w.attacker, forged)
	waitCached(t, &corev1.Secret{}, forged, func(client.Object) bool { return true })
	consistently(t, func() string {
		r := postForm(t, "/oauth/token", id, secret, "grant_type", "refresh_token", "refresh_token", tok)
		code, _ := r.Body["error"].(string)
		if code == "" {
			return r.Raw
		}
		return code
	}).Should(gomega.Equal("invalid_grant"), "a forged family must not refresh")

	// This release's records are out of the tenant's reach.
	inOperatorNS := forged.DeepCopy()
	inOperatorNS.Namespace, inOperatorNS.ResourceVersion, inOperatorNS.OwnerReferences = operatorNamespace, "", nil
	if err := w.attacker.Create(ctx, inOperatorNS); !apierrors.IsForbidden(err) {
		t.Fatalf("writing a record into %s: %v, want Forbidden", operatorNamespace, err)
	}
}

// Attack 6, second half: issue-then-revoke loops no longer grow the
// operator's state without bound. Past --max-revocations-per-client a
// revocation is 503 temporarily_unavailable with a clear message and no new
// record, and every token revoked before stays revoked; past
// --max-families-per-user a new session is refused with a clear message and
// the existing ones keep working.
func TestAttackStateGrowthIsCapped(t *testing.T) {
	w := newWorld(t)
	_, pw := newUser(t, env.Client, w.evil, "erin", v1alpha1.OAuthUserSpec{})
	id, secret := newClient(t, w.attacker, w.evil, "looper", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
	})
	var app v1alpha1.OAuthClient
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.evil, Name: "looper"}, &app); err != nil {
		t.Fatal(err)
	}
	revocations := recordCount(&corev1.ConfigMapList{}, "revoked-token", string(app.UID))

	var revoked []string
	for i := range maxRevocationsPerClient {
		body, _ := wantToken(t, clientCredentials(t, id, secret))
		tok := body["access_token"].(string)
		if r := postForm(t, "/oauth/revoke", id, secret, "token", tok); r.Status != http.StatusOK {
			t.Fatalf("revocation %d: %d %s", i, r.Status, r.Raw)
		}
		revoked = append(revoked, tok)
		eventually(t, revocations).Should(gomega.Equal(i + 1))
	}
	body, _ := wantToken(t, clientCredentials(t, id, secret))
	r := postForm(t, "/oauth/revoke", id, secret, "token", body["access_token"].(string))
	wantError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if desc, _ := r.Body["error_description"].(string); !strings.Contains(desc, "too many revoked tokens") {
		t.Fatalf("the cap's message: %q", desc)
	}
	consistently(t, revocations).Should(gomega.Equal(maxRevocationsPerClient))
	for _, tok := range revoked {
		if r := introspect(t, id, secret, tok); r.Body["active"] != false {
			t.Fatalf("a token revoked before the cap is active again: %s", r.Raw)
		}
	}

	families := recordCount(&corev1.SecretList{}, "refresh-family", string(app.UID))
	var first string
	for i := range maxFamiliesPerUser {
		body, _ := wantToken(t, passwordGrant(t, id, secret, "erin", pw))
		if i == 0 {
			first = body["refresh_token"].(string)
		}
		eventually(t, families).Should(gomega.Equal(i + 1))
	}
	r = passwordGrant(t, id, secret, "erin", pw)
	wantError(t, r, http.StatusBadRequest, "invalid_request")
	if desc, _ := r.Body["error_description"].(string); !strings.Contains(desc, "too many active sessions") {
		t.Fatalf("the cap's message: %q", desc)
	}
	wantToken(t, postForm(t, "/oauth/token", id, secret, "grant_type", "refresh_token", "refresh_token", first))
}

// recordCount counts, in the manager's cache of the operator namespace (what
// the caps count), the records of kind issued to the client with clientUID.
func recordCount(list client.ObjectList, kind, clientUID string) func() int {
	return func() int {
		if err := mgr.GetClient().List(context.Background(), list, client.InNamespace(operatorNamespace),
			client.MatchingLabels{"tokenwarden.dev/kind": kind, "tokenwarden.dev/client-uid": clientUID}); err != nil {
			return -1
		}
		return meta.LenList(list)
	}
}

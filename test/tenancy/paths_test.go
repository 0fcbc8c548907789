package tenancy_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// The suite's alias that the platform team made claimable by one namespace
// only (suite_test.go).
const (
	legacyPath          = "/legacy/connect/token"
	legacyPathNamespace = "tenancy-legacy-app"
)

// Attack: the attacker claims the alias path the platform team gave to the
// legacy app's namespace, and writes status saying it holds it. The claim
// is refused (DefaultPathNotAllowed), the status write is Forbidden, and a
// legacy client sending no client_id keeps reaching the legacy app.
func TestAttackClaimAnotherTeamsAliasPath(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: legacyPathNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	public := v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword},
		Compatibility: &v1alpha1.Compatibility{DefaultForPaths: []string{legacyPath}}}
	appName := "app-" + w.evil // one per test run: the namespace outlives it
	legacyID, _ := newClient(t, env.Client, legacyPathNamespace, appName, public)
	legacy := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: legacyPathNamespace, Name: appName}}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), legacy) })
	waitCondition(t, legacy, v1alpha1.ConditionDefaultPaths, metav1.ConditionTrue, "Held")
	legacyUser := "u-" + w.evil
	_, legacyPw := newUser(t, env.Client, legacyPathNamespace, legacyUser, v1alpha1.OAuthUserSpec{})

	newClient(t, w.attacker, w.evil, "squat", public)
	squat := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, Name: "squat"}}
	waitCondition(t, squat, v1alpha1.ConditionDefaultPaths, metav1.ConditionFalse, "DefaultPathNotAllowed")
	if held := squat.HeldDefaultPaths(); len(held) != 0 {
		t.Fatalf("the squatter holds %v", held)
	}
	squat.Status.Compatibility = &v1alpha1.CompatibilityStatus{DefaultForPaths: []string{legacyPath}}
	if err := w.attacker.Status().Update(ctx, squat); !apierrors.IsForbidden(err) {
		t.Fatalf("the tenant wrote its client's status: %v, want Forbidden", err)
	}
	_, evilPw := newUser(t, w.attacker, w.evil, legacyUser, v1alpha1.OAuthUserSpec{})

	signIn := func(pw string) response {
		return testhttp.Post(t, issuer+legacyPath, "application/json", `{"grant_type":"password","username":"`+legacyUser+`","password":"`+pw+`"}`)
	}
	eventually(t, func() int { return signIn(legacyPw).Status }).Should(gomega.Equal(http.StatusOK))
	_, claims := wantToken(t, signIn(legacyPw))
	if claims["client_id"] != legacyID {
		t.Fatalf("client_id %v, want the legacy app %s", claims["client_id"], legacyID)
	}
	wantError(t, signIn(evilPw), http.StatusBadRequest, "invalid_grant")
}

// Attack: on the /{namespace}/{name}/token template the attacker names a
// victim's client in the path and authenticates as its own client, or
// names its own client under the victim's namespace. Both are
// invalid_client; the victim's users are never checked against it.
func TestAttackOtherNamespaceOnTemplatePath(t *testing.T) {
	w := newWorld(t)
	victimID, victimSecret := newClient(t, env.Client, w.teamA, "app", v1alpha1.OAuthClientSpec{})
	evilID, evilSecret := newClient(t, w.attacker, w.evil, "app", v1alpha1.OAuthClientSpec{})
	path := "/" + w.teamA + "/app/token"
	wantToken(t, postForm(t, path, victimID, victimSecret, "grant_type", "client_credentials"))
	wantError(t, postForm(t, path, evilID, evilSecret, "grant_type", "client_credentials"), http.StatusUnauthorized, "invalid_client")
	wantError(t, postForm(t, "/"+w.teamA+"/missing/token", evilID, evilSecret, "grant_type", "client_credentials"), http.StatusUnauthorized, "invalid_client")
	_, claims := wantToken(t, postForm(t, "/"+w.evil+"/app/token", evilID, evilSecret, "grant_type", "client_credentials"))
	if claims["client_id"] != evilID || claims["tokenwarden.dev/namespace"] != w.evil {
		t.Fatalf("claims %v", claims)
	}
}

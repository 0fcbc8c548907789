package tenancy_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// conditions returns the status conditions of a Tokenwarden object.
func conditions(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *v1alpha1.OAuthClient:
		return o.Status.Conditions
	case *v1alpha1.OAuthUser:
		return o.Status.Conditions
	case *v1alpha1.OAuthResource:
		return o.Status.Conditions
	}
	return nil
}

// waitCondition waits until obj (read with the admin client into obj) has
// condition typ with status and, when given, reason, for its current
// generation, and returns it.
func waitCondition(t testing.TB, obj client.Object, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		got = meta.FindStatusCondition(conditions(obj), typ)
		switch {
		case got == nil:
			return fmt.Errorf("no %s condition", typ)
		case got.Status != status || (reason != "" && got.Reason != reason):
			return fmt.Errorf("%s=%s/%s (%s), want %s/%s", typ, got.Status, got.Reason, got.Message, status, reason)
		case got.ObservedGeneration != obj.GetGeneration():
			return fmt.Errorf("%s is for generation %d, not %d", typ, got.ObservedGeneration, obj.GetGeneration())
		}
		return nil
	}).Should(gomega.Succeed(), "%T %s/%s", obj, obj.GetNamespace(), obj.GetName())
	return got
}

// newClient creates an OAuthClient as c (the admin or the attacker), waits
// until it is Ready and the token server's cache knows its client_id, and
// returns its client_id and secret read from its Secret as c.
func newClient(t testing.TB, c client.Client, ns, name string, spec v1alpha1.OAuthClientSpec) (id, secret string) {
	t.Helper()
	oc := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	create(t, c, oc)
	waitCondition(t, oc, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	var s corev1.Secret
	eventually(t, func() error {
		return c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: oc.Status.SecretName}, &s)
	}).Should(gomega.Succeed())
	waitCached(t, &v1alpha1.OAuthClient{}, oc, func(o client.Object) bool {
		return o.(*v1alpha1.OAuthClient).Status.ClientID == oc.Status.ClientID
	})
	return oc.Status.ClientID, string(s.Data["client_secret"])
}

// newUser creates an OAuthUser as c, waits until it is Ready and cached, and
// returns it with its generated password (empty for a hash or secretRef).
func newUser(t testing.TB, c client.Client, ns, name string, spec v1alpha1.OAuthUserSpec) (*v1alpha1.OAuthUser, string) {
	t.Helper()
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	create(t, c, u)
	waitCondition(t, u, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	var pw string
	if u.Status.PasswordSource == v1alpha1.PasswordGenerated {
		var s corev1.Secret
		eventually(t, func() error {
			return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: u.Status.SecretName}, &s)
		}).Should(gomega.Succeed())
		pw = string(s.Data["password"])
	}
	waitCached(t, &v1alpha1.OAuthUser{}, u, func(o client.Object) bool {
		return o.(*v1alpha1.OAuthUser).Status.Username != ""
	})
	return u, pw
}

// newResource creates an OAuthResource as c and waits until it holds its
// audience, in the API and in the token server's cache.
func newResource(t testing.TB, c client.Client, ns, name string, spec v1alpha1.OAuthResourceSpec) *v1alpha1.OAuthResource {
	t.Helper()
	r := &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	create(t, c, r)
	waitCondition(t, r, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitCached(t, &v1alpha1.OAuthResource{}, r, func(o client.Object) bool {
		return o.(*v1alpha1.OAuthResource).HoldsAudience()
	})
	return r
}

// waitCached waits until the manager's cache (what the token server reads)
// holds obj in a state ok accepts.
func waitCached(t testing.TB, into, obj client.Object, ok func(client.Object) bool) {
	t.Helper()
	eventually(t, func() bool {
		return mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(obj), into) == nil && ok(into)
	}).Should(gomega.BeTrue(), "cached %s/%s", obj.GetNamespace(), obj.GetName())
}

// response is an answer of the token server.
type response = testhttp.Response

// postForm posts the form kv to path, authenticated with client_secret_basic
// as id when id is not empty.
func postForm(t testing.TB, path, id, secret string, kv ...string) response {
	t.Helper()
	r, err := testhttp.PostForm(nil, issuer+path, id, secret, kv...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// clientCredentials asks for a token with client_credentials.
func clientCredentials(t testing.TB, id, secret string, kv ...string) response {
	t.Helper()
	return postForm(t, "/oauth/token", id, secret, append([]string{"grant_type", "client_credentials"}, kv...)...)
}

// passwordGrant signs a user in with the password grant.
func passwordGrant(t testing.TB, id, secret, username, pw string, kv ...string) response {
	t.Helper()
	return postForm(t, "/oauth/token", id, secret, append([]string{"grant_type", "password", "username", username, "password", pw}, kv...)...)
}

// wantToken checks a 200 with an access token and returns the body and the
// access token's claims.
func wantToken(t testing.TB, r response) (map[string]any, map[string]any) {
	t.Helper()
	tok, _ := r.Body["access_token"].(string)
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("want a token, got %d %s", r.Status, r.Raw)
	}
	return r.Body, testhttp.JWTClaims(t, tok)
}

// wantError checks an OAuth error answer (RFC 6749 §5.2).
func wantError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Body["error"] != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.Status, r.Raw)
	}
	if _, ok := r.Body["access_token"]; ok {
		t.Fatalf("an error answer carries a token: %s", r.Raw)
	}
}

// scopes is the scope claim as a list.
func scopes(claims map[string]any) []string {
	s, _ := claims["scope"].(string)
	return strings.Fields(s)
}

// introspect asks the token server about tok as the client id.
func introspect(t testing.TB, id, secret, tok string) response {
	t.Helper()
	r := postForm(t, "/oauth/introspect", id, secret, "token", tok)
	if r.Status != http.StatusOK {
		t.Fatalf("introspection: %d %s", r.Status, r.Raw)
	}
	return r
}

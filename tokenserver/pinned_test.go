package tokenserver_test

// Attacker's tests for token-endpoint checks that make mutate pins
// (hack/mutate/mutations.txt): each asserts the status and the OAuth error
// a client sees. The helpers here are their own, so these tests do not move
// with the suite's shared helpers.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// pinToken posts the form kv to the suite's token endpoint and returns the
// status and the JSON answer.
func pinToken(t testing.TB, kv ...string) (int, map[string]any) {
	t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	resp, err := http.PostForm(issuer+"/oauth/token", v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestPinnedClientSecretNotWritten: a confidential client whose secret the
// controller has not written yet cannot authenticate by sending only its
// client_id (an empty secret is not its secret).
func TestPinnedClientSecretNotWritten(t *testing.T) {
	ns := h.Namespace()
	c := &v1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unwritten", Generation: 1, CreationTimestamp: metav1.Now()},
		Spec:       v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}},
	}
	c.Status.ClientID = c.EffectiveClientID()
	c.Status.SecretName = c.EffectiveSecretName()
	c.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: 1, LastTransitionTime: metav1.Now()}}
	h.Mem.Directory.PutClient(c, "", "", time.Time{})
	for _, kv := range [][]string{
		{"client_id", c.Status.ClientID},
		{"client_id", c.Status.ClientID, "client_secret", ""},
	} {
		status, body := pinToken(t, append([]string{"grant_type", "client_credentials"}, kv...)...)
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("client without a written secret, %v: %d %v, want 401 invalid_client", kv, status, body)
		}
	}
}

// TestPinnedRefreshAudienceNarrowing: a refresh may narrow the audience of
// its family but never widen it, even to an audience the client is granted
// today: a family for A refreshed for B is invalid_target.
func TestPinnedRefreshAudienceNarrowing(t *testing.T) {
	f := newFixture(t)
	a, b := "https://a."+f.NS+".example", "https://b."+f.NS+".example"
	f.Resource("a", v1alpha1.OAuthResourceSpec{Audience: a, Scopes: []string{"a.read"}})
	f.Resource("b", v1alpha1.OAuthResourceSpec{Audience: b, Scopes: []string{"b.read"}})
	id, secret := f.Client("app", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"a.read", "b.read"},
		Audiences:  []string{a, b},
	})
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	creds := []string{"client_id", id, "client_secret", secret}
	status, body := pinToken(t, append([]string{"grant_type", "password", "username", "alice", "password", pw, "audience", a}, creds...)...)
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("password grant for %s: %d %v", a, status, body)
	}
	for _, param := range []string{"audience", "resource"} {
		status, body = pinToken(t, append([]string{"grant_type", "refresh_token", "refresh_token", rt, param, b}, creds...)...)
		if status != http.StatusBadRequest || body["error"] != "invalid_target" {
			t.Fatalf("refresh of a family for %s with %s=%s: %d %v, want 400 invalid_target", a, param, b, status, body)
		}
	}
	// Narrowing to what the family holds works.
	status, body = pinToken(t, append([]string{"grant_type", "refresh_token", "refresh_token", rt, "audience", a}, creds...)...)
	if status != http.StatusOK {
		t.Fatalf("refresh for %s: %d %v", a, status, body)
	}
}

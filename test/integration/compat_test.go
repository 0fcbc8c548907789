package integration_test

// Serving existing clients through the cluster: the OAuthClient controller
// decides which client holds an alias path as its default (status, the
// DefaultPaths condition, an Event for the loser), and the token server
// answers from the informer cache, on alias paths and on a
// /{namespace}/{name}/token template.

import (
	"context"
	"net/http"
	"testing"

	"github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

// The claimable alias paths of the suite's server (suite_test.go).
const (
	compatConnectPath    = "/compat/connect/token"
	compatManagementPath = "/compat/management/token"
)

// defaultPaths waits until the client's DefaultPaths condition has status
// and returns its reason and the paths it holds.
func defaultPaths(t *testing.T, c *v1alpha1.OAuthClient, status metav1.ConditionStatus) (string, []string) {
	t.Helper()
	var reason string
	eventually(t, func() bool {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
			return false
		}
		cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionDefaultPaths)
		if cond == nil || cond.Status != status {
			return false
		}
		reason = cond.Reason
		return true
	}).Should(gomega.BeTrue(), "%s: DefaultPaths %s", c.Name, status)
	return reason, c.HeldDefaultPaths()
}

func eventReasons(ns, name string) func() []string {
	return func() []string {
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return nil
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Name == name {
				out = append(out, e.Reason)
			}
		}
		return out
	}
}

func claimant(f *fixture, name string, paths ...string) *v1alpha1.OAuthClient {
	f.t.Helper()
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: v1alpha1.OAuthClientSpec{
		Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword},
		Compatibility: &v1alpha1.Compatibility{DefaultForPaths: paths, UserObject: v1alpha1.UserObjectUsergrid},
	}}
	f.create(c)
	f.waitReady(c)
	return c
}

func TestDefaultPathClaimsThroughTheCluster(t *testing.T) {
	fa, fb := newFixture(t), newFixture(t)
	first := claimant(fa, "first", compatConnectPath)
	if reason, held := defaultPaths(t, first, metav1.ConditionTrue); reason != "Held" || len(held) != 1 || held[0] != compatConnectPath {
		t.Fatalf("first: reason %s, holds %v", reason, held)
	}
	second := claimant(fb, "second", compatConnectPath, compatManagementPath)
	reason, held := defaultPaths(t, second, metav1.ConditionFalse)
	if reason != "DefaultPathConflict" || len(held) != 1 || held[0] != compatManagementPath {
		t.Fatalf("second: reason %s, holds %v; want a conflict on %s and %s held", reason, held, compatConnectPath, compatManagementPath)
	}
	eventually(t, eventReasons(fb.ns, "second")).Should(gomega.ContainElement("DefaultPathConflict"))
	squatter := claimant(fb, "squatter", "/token", "/unlisted")
	if reason, held := defaultPaths(t, squatter, metav1.ConditionFalse); reason != "DefaultPathNotAllowed" || len(held) != 0 {
		t.Fatalf("squatter: reason %s, holds %v", reason, held)
	}

	ua, pwa := fa.user("dana", v1alpha1.OAuthUserSpec{DisplayName: "Dana A"})
	_, pwb := fb.user("dana", v1alpha1.OAuthUserSpec{})
	signIn := func(path, pw string) response {
		return testhttp.Post(t, issuer+path, "application/json", `{"grant_type":"password","username":"dana","password":"`+pw+`"}`)
	}
	// Side by side: each path answers as its holder, from the cache.
	eventually(t, func() int { return signIn(compatConnectPath, pwa).Status }).Should(gomega.Equal(http.StatusOK))
	eventually(t, func() int { return signIn(compatManagementPath, pwb).Status }).Should(gomega.Equal(http.StatusOK))
	if r := signIn(compatConnectPath, pwa); r.Body["user"].(map[string]any)["uuid"] != string(ua.UID) {
		t.Fatalf("connect path: %s", r.Raw)
	}
	if r := signIn(compatConnectPath, pwb); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
		t.Fatalf("the other namespace's password on the first's path: %d %s", r.Status, r.Raw)
	}
	// /token is listed but not claimable: no default other than --default-client.
	if r := signIn("/token", pwb); r.Status == http.StatusOK {
		t.Fatalf("/token answered the squatter: %d %s", r.Status, r.Raw)
	}

	// The holder goes: the waiting claimant takes the path.
	if err := env.Client.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if reason, held := defaultPaths(t, second, metav1.ConditionTrue); reason != "Held" || len(held) != 2 {
		t.Fatalf("second after the holder went: reason %s, holds %v", reason, held)
	}
	eventually(t, func() int { return signIn(compatConnectPath, pwb).Status }).Should(gomega.Equal(http.StatusOK))

	// A holder that drops a path from its spec frees it for the next
	// claimant; a request that names no client then reaches that one.
	third := claimant(fa, "third", compatManagementPath)
	if reason, _ := defaultPaths(t, third, metav1.ConditionFalse); reason != "DefaultPathConflict" {
		t.Fatalf("third: reason %s", reason)
	}
	second.Spec.Compatibility.DefaultForPaths = []string{compatConnectPath}
	if err := env.Client.Update(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	if reason, held := defaultPaths(t, third, metav1.ConditionTrue); reason != "Held" || len(held) != 1 {
		t.Fatalf("third after the holder dropped the path: reason %s, holds %v", reason, held)
	}
	eventually(t, func() any { return signIn(compatManagementPath, pwa).Body["user"] }).ShouldNot(gomega.BeNil())
}

func TestTokenPathTemplateThroughTheCache(t *testing.T) {
	fa, fb := newFixture(t), newFixture(t)
	var ids []string
	var pws []string
	var users []*v1alpha1.OAuthUser
	for _, f := range []*fixture{fa, fb} {
		id, _ := f.client("app", v1alpha1.OAuthClientSpec{Public: true, GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword}})
		u, pw := f.user("alice", v1alpha1.OAuthUserSpec{Email: "alice@" + f.ns + ".example"})
		ids, pws, users = append(ids, id), append(pws, pw), append(users, u)
	}
	for i, f := range []*fixture{fa, fb} {
		r := testhttp.Post(t, issuer+"/"+f.ns+"/app/token", "application/json", `{"grant_type":"password","username":"alice","password":"`+pws[i]+`"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", f.ns, r.Status, r.Raw)
		}
		u, _ := r.Body["user"].(map[string]any)
		if u["uuid"] != string(users[i].UID) || u["created"] != float64(users[i].CreationTimestamp.UnixMilli()) || u["activated"] != true || u["email"] != users[i].Spec.Email {
			t.Fatalf("%s: user %v, want the OAuthUser's uid, creation time and email", f.ns, u)
		}
		other := 1 - i
		if r := testhttp.Post(t, issuer+"/"+f.ns+"/app/token", "application/json", `{"grant_type":"password","username":"alice","password":"`+pws[other]+`"}`); r.Status != http.StatusBadRequest {
			t.Fatalf("%s: the other namespace's password: %d %s", f.ns, r.Status, r.Raw)
		}
		if r := testhttp.Post(t, issuer+"/"+f.ns+"/app/token", formType, form("grant_type", "password", "username", "alice", "password", pws[i], "client_id", ids[other])); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: naming the other namespace's client: %d %s", f.ns, r.Status, r.Raw)
		}
	}
	if r := testhttp.Post(t, issuer+"/"+fa.ns+"/missing/token", formType, form("grant_type", "password", "username", "alice", "password", pws[0])); r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
		t.Fatalf("unknown app: %d %s", r.Status, r.Raw)
	}
}

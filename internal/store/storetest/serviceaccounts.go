package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// testDirectoryServiceAccounts: ClientsForServiceAccount finds exactly the
// clients of the namespace, holding an id, that list the ServiceAccount;
// never one of another namespace; and a client's inline JWKS comes with it.
func testDirectoryServiceAccounts(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns, other := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	withSAs := func(c *v1alpha1.OAuthClient, sas ...string) *v1alpha1.OAuthClient {
		c.Spec.Authentication = &v1alpha1.ClientAuthentication{ServiceAccounts: sas, PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{JWKS: `{"keys":[]}`}}
		return c
	}
	fx.PutClient(t, withSAs(oauthClient(ns, "a", ns+".a", false), "robot", "other"), "s", "", time.Time{})
	fx.PutClient(t, withSAs(oauthClient(ns, "b", ns+".b", false), "robot"), "s", "", time.Time{})
	fx.PutClient(t, withSAs(oauthClient(ns, "c", ns+".c", false), "other"), "s", "", time.Time{})
	fx.PutClient(t, withSAs(oauthClient(ns, "pending", "", false), "robot"), "s", "", time.Time{})
	fx.PutClient(t, withSAs(oauthClient(other, "a", other+".a", false), "robot"), "s", "", time.Time{})

	cs, err := dir.ClientsForServiceAccount(ctx, ns, "robot")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Object.Namespace+"/"+c.Object.Name)
		if string(c.JWKS) != `{"keys":[]}` {
			t.Errorf("client %s: JWKS %q, want the inline one", c.Object.Name, c.JWKS)
		}
	}
	slices.Sort(names)
	if want := []string{ns + "/a", ns + "/b"}; !slices.Equal(names, want) {
		t.Fatalf("clients for %s/robot: %v, want %v", ns, names, want)
	}
	if cs, err := dir.ClientsForServiceAccount(ctx, ns, "nobody"); err != nil || len(cs) != 0 {
		t.Fatalf("clients for an unlisted ServiceAccount: %v, %v", cs, err)
	}
}

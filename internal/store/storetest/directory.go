package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

func oauthClient(ns, name, clientID string, public bool) *v1alpha1.OAuthClient {
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if public {
		// What a valid public client looks like (no client_credentials).
		c.Spec.Public = true
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}
		c.Spec.RedirectURIs = []string{"https://app.example/cb"}
	}
	c.Status.ClientID = clientID
	return c
}

func oauthUser(ns, name, username string) *v1alpha1.OAuthUser {
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	u.Status.Username = username
	return u
}

func expectNotFound[T any](t *testing.T, what string, got *T, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: got %+v, %v; want ErrNotFound", what, got, err)
	}
}

func testDirectoryClients(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns := fx.Stores().Directory, fx.Namespace(t)
	id := ns + ".app"
	prevExp := epoch.Add(time.Hour)
	app := fx.PutClient(t, oauthClient(ns, "app", id, false), "s3cret", "old", prevExp)
	fx.PutClient(t, oauthClient(ns, "spa", ns+".spa", true), "", "", time.Time{})
	fx.PutClient(t, oauthClient(ns, "rotated", ns+".rotated", false), "new", "no-expiry", time.Time{})
	fx.PutClient(t, oauthClient(ns, "pending", "", false), "s", "", time.Time{})

	c, err := dir.ClientByID(ctx, id)
	if err != nil {
		t.Fatalf("client by id: %v", err)
	}
	if c.Object.UID != app.UID || c.Secret != "s3cret" || c.PreviousSecret != "old" || !c.PreviousExpiresAt.Equal(prevExp) {
		t.Fatalf("client by id: %+v", c)
	}
	if c, err = dir.ClientByName(ctx, ns, "app"); err != nil || c.Object.UID != app.UID || c.Secret != "s3cret" {
		t.Fatalf("client by name: %+v, %v", c, err)
	}
	if c, err = dir.ClientByID(ctx, ns+".spa"); err != nil || c.Secret != "" || !c.Object.Spec.Public {
		t.Fatalf("public client: %+v, %v", c, err)
	}
	// A previous secret without an expiry is not accepted at all.
	if c, err = dir.ClientByID(ctx, ns+".rotated"); err != nil || c.Secret != "new" || c.PreviousSecret != "" {
		t.Fatalf("client with a previous secret and no expiry: %+v, %v", c, err)
	}
	c, err = dir.ClientByName(ctx, ns, "pending")
	expectNotFound(t, "client without a client id, by name", c, err)
	for _, id := range []string{"", ns + ".pending", ns + ".missing", "app"} {
		c, err = dir.ClientByID(ctx, id)
		expectNotFound(t, "client by id "+id, c, err)
	}
	c, err = dir.ClientByName(ctx, ns, "missing")
	expectNotFound(t, "missing client by name", c, err)
	c, err = dir.ClientByName(ctx, fx.Namespace(t), "app")
	expectNotFound(t, "client by name in another namespace", c, err)
}

// testDirectoryClientClash: two objects holding one client id (a state the
// controllers resolve) make neither usable by id, so a clash never lets one
// client authenticate as the other.
func testDirectoryClientClash(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns1, ns2 := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	id := ns1 + ".shared"
	fx.PutClient(t, oauthClient(ns1, "one", id, false), "secret-one", "", time.Time{})
	if _, err := dir.ClientByID(ctx, id); err != nil {
		t.Fatalf("sole holder: %v", err)
	}
	fx.PutClient(t, oauthClient(ns2, "two", id, false), "secret-two", "", time.Time{})
	c, err := dir.ClientByID(ctx, id)
	expectNotFound(t, "client id held twice", c, err)
	if c, err := dir.ClientByName(ctx, ns2, "two"); err != nil || c.Secret != "secret-two" {
		t.Fatalf("client by name during a clash: %+v, %v", c, err)
	}
}

func testDirectoryUsers(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns := fx.Stores().Directory, fx.Namespace(t)
	alice := fx.PutUser(t, oauthUser(ns, "alice", "alice"), "pw-alice", "")
	hashed := fx.PutUser(t, oauthUser(ns, "bob-object", "bob"), "", "$2a$10$abcdefghijklmnopqrstuv")
	pending := fx.PutUser(t, oauthUser(ns, "carol", ""), "pw-carol", "")
	fx.PutUser(t, oauthUser(ns, "dave1", "dave"), "pw1", "")
	fx.PutUser(t, oauthUser(ns, "dave2", "dave"), "pw2", "")

	u, err := dir.User(ctx, ns, "alice")
	if err != nil || u.Object.UID != alice.UID || u.Plaintext != "pw-alice" || u.Hash != "" {
		t.Fatalf("user alice: %+v, %v", u, err)
	}
	if u, err = dir.UserByUID(ctx, ns, alice.UID); err != nil || u.Object.Name != "alice" || u.Plaintext != "pw-alice" {
		t.Fatalf("user alice by uid: %+v, %v", u, err)
	}
	// Found by the username it holds, not the object name.
	if u, err = dir.User(ctx, ns, "bob"); err != nil || u.Object.UID != hashed.UID || u.Hash != "$2a$10$abcdefghijklmnopqrstuv" || u.Plaintext != "" {
		t.Fatalf("user bob: %+v, %v", u, err)
	}
	u, err = dir.User(ctx, ns, "bob-object")
	expectNotFound(t, "user by object name", u, err)
	// Not Ready (no username): found by neither.
	u, err = dir.User(ctx, ns, "carol")
	expectNotFound(t, "user without a username", u, err)
	u, err = dir.UserByUID(ctx, ns, pending.UID)
	expectNotFound(t, "user without a username, by uid", u, err)
	// A username held twice is nobody's until the controllers resolve it.
	u, err = dir.User(ctx, ns, "dave")
	expectNotFound(t, "username held twice", u, err)
	for _, name := range []string{"", "missing"} {
		u, err = dir.User(ctx, ns, name)
		expectNotFound(t, "user "+name, u, err)
	}
	u, err = dir.UserByUID(ctx, ns, "")
	expectNotFound(t, "user by empty uid", u, err)
	u, err = dir.UserByUID(ctx, ns, "no-such-uid")
	expectNotFound(t, "user by unknown uid", u, err)
}

// testDirectoryUserOtherNamespace is an attacker's test: a client signs in
// only its own namespace's users, so a user that exists only in another
// namespace is found neither by name nor by UID (a refresh family or code
// forged to carry its UID gets nothing).
func testDirectoryUserOtherNamespace(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, mine, theirs := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	victim := fx.PutUser(t, oauthUser(theirs, "victim", "victim"), "pw", "")
	if u, err := dir.User(ctx, theirs, "victim"); err != nil || u.Object.UID != victim.UID {
		t.Fatalf("user in its own namespace: %+v, %v", u, err)
	}
	u, err := dir.User(ctx, mine, "victim")
	expectNotFound(t, "user of another namespace by name", u, err)
	u, err = dir.UserByUID(ctx, mine, victim.UID)
	expectNotFound(t, "user of another namespace by uid", u, err)
	// A user of the same name in mine is mine, never theirs.
	own := fx.PutUser(t, oauthUser(mine, "victim", "victim"), "other-pw", "")
	if u, err := dir.User(ctx, mine, "victim"); err != nil || u.Object.UID != own.UID || u.Plaintext != "other-pw" {
		t.Fatalf("same username in my namespace: %+v, %v", u, err)
	}
}

// testDirectoryDeleting: a client or user being deleted (a finalizer holds
// it) is not found, though still stored.
func testDirectoryDeleting(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns := fx.Stores().Directory, fx.Namespace(t)
	app := fx.PutClient(t, oauthClient(ns, "app", ns+".app", false), "s", "", time.Time{})
	alice := fx.PutUser(t, oauthUser(ns, "alice", "alice"), "pw", "")
	if _, err := dir.ClientByID(ctx, ns+".app"); err != nil {
		t.Fatalf("client before deletion: %v", err)
	}
	if _, err := dir.User(ctx, ns, "alice"); err != nil {
		t.Fatalf("user before deletion: %v", err)
	}
	fx.MarkDeleting(t, app)
	fx.MarkDeleting(t, alice)
	c, err := dir.ClientByID(ctx, ns+".app")
	expectNotFound(t, "deleting client by id", c, err)
	c, err = dir.ClientByName(ctx, ns, "app")
	expectNotFound(t, "deleting client by name", c, err)
	u, err := dir.User(ctx, ns, "alice")
	expectNotFound(t, "deleting user", u, err)
	u, err = dir.UserByUID(ctx, ns, alice.UID)
	expectNotFound(t, "deleting user by uid", u, err)
}

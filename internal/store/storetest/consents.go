package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// testConsents runs a consent through its life: created under its id,
// widened by compare-and-swap, read back as written, and collected by the
// drop function (an orphan) with an unreadable record beside it.
func testConsents(t *testing.T, fx Fixture) {
	ctx := context.Background()
	st, ns := fx.Stores().Consents, fx.Namespace(t)
	id := store.ConsentID("uid-app", "uid-alice")
	want := &store.Consent{ClientUID: "uid-app", ClientID: ns + ".app", UserUID: "uid-alice",
		Scopes: []string{"openid", "profile"}, Audience: []string{"https://api.example"}, GrantedAt: epoch}
	if err := st.Create(ctx, ns, id, want, owner); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := st.Create(ctx, ns, id, want, owner); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := st.Get(ctx, ns, id)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("get: %+v, %v; want %+v", got, err, want)
	}
	got, err = st.Update(ctx, ns, id, func(c *store.Consent) (store.Op, error) {
		c.Add([]string{"email", "openid"}, nil)
		c.GrantedAt = epoch.Add(time.Minute)
		return store.Write, nil
	})
	if err != nil || !reflect.DeepEqual(got.Scopes, []string{"openid", "profile", "email"}) || !got.GrantedAt.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("widen: %+v, %v", got, err)
	}
	if !got.Covers([]string{"email"}, []string{"https://api.example"}) || got.Covers([]string{"api"}, nil) || got.Covers(nil, []string{"https://other.example"}) {
		t.Fatalf("covers: %+v", got)
	}
	fx.PutUnreadable(t, ConsentRecords, ns, "broken")
	fx.Settle(t, ns)
	removed, err := st.Collect(ctx, func(namespace string, c *store.Consent) string {
		if namespace == ns && c.UserUID == "uid-alice" {
			return "orphaned"
		}
		return ""
	})
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if want := map[string]int{"orphaned": 1, store.ReasonUnreadable: 1}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("collect removed %v, want %v", removed, want)
	}
	if _, err := st.Get(ctx, ns, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("collected consent still there: %v", err)
	}
}

// testDirectoryNamespaceAnnotations: the annotations put are read back and a
// change shows; another namespace has none of them.
func testDirectoryNamespaceAnnotations(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns, other := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	if a, err := dir.NamespaceAnnotations(ctx, ns); err != nil || a[contract.AnnotationFirstPartyClients] != "" {
		t.Fatalf("fresh namespace: %v, %v", a, err)
	}
	fx.PutNamespaceAnnotations(t, ns, map[string]string{contract.AnnotationFirstPartyClients: "portal"})
	if a, err := dir.NamespaceAnnotations(ctx, ns); err != nil || a[contract.AnnotationFirstPartyClients] != "portal" {
		t.Fatalf("annotated namespace: %v, %v", a, err)
	}
	fx.PutNamespaceAnnotations(t, ns, map[string]string{contract.AnnotationFirstPartyClients: "portal,admin"})
	if a, err := dir.NamespaceAnnotations(ctx, ns); err != nil || a[contract.AnnotationFirstPartyClients] != "portal,admin" {
		t.Fatalf("re-annotated namespace: %v, %v", a, err)
	}
	if a, err := dir.NamespaceAnnotations(ctx, other); err != nil || a[contract.AnnotationFirstPartyClients] != "" {
		t.Fatalf("another namespace shows the annotations: %v, %v", a, err)
	}
	got, err := dir.NamespaceAnnotations(ctx, "")
	expectNotFound(t, "namespace annotations of the empty name", &got, err)
}

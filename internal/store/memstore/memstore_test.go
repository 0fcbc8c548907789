package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/memstore"
	"github.com/tokenwarden/tokenwarden/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Fixture {
		return &fixture{mem: memstore.New(), clients: map[string]putClient{}}
	})
}

// fixture fills a memstore.Store for the conformance suite.
type fixture struct {
	mem        *memstore.Store
	mu         sync.Mutex
	namespaces int
	clients    map[string]putClient // by namespace/name, to put again as deleting
}

type putClient struct {
	secret, previous  string
	previousExpiresAt time.Time
}

func (f *fixture) Stores() store.Stores { return f.mem.Stores() }

func (f *fixture) Namespace(*testing.T) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.namespaces++
	return fmt.Sprintf("ns-%d", f.namespaces)
}

func (f *fixture) PutClient(_ *testing.T, obj *v1alpha1.OAuthClient, secret, previous string, previousExpiresAt time.Time) *v1alpha1.OAuthClient {
	f.clients[obj.Namespace+"/"+obj.Name] = putClient{secret, previous, previousExpiresAt}
	return f.mem.Directory.PutClient(obj, secret, previous, previousExpiresAt)
}

func (f *fixture) PutUser(_ *testing.T, obj *v1alpha1.OAuthUser, plaintext, hash string) *v1alpha1.OAuthUser {
	return f.mem.Directory.PutUser(obj, plaintext, hash)
}

func (f *fixture) PutResource(_ *testing.T, obj *v1alpha1.OAuthResource) *v1alpha1.OAuthResource {
	return f.mem.Directory.PutResource(obj)
}

func (f *fixture) PutNamespaceLabels(_ *testing.T, namespace string, labels map[string]string) {
	f.mem.Directory.PutNamespaceLabels(namespace, labels)
}

func (f *fixture) PutNamespaceAnnotations(_ *testing.T, namespace string, annotations map[string]string) {
	f.mem.Directory.PutNamespaceAnnotations(namespace, annotations)
}

func (f *fixture) MarkDeleting(t *testing.T, obj client.Object) {
	now := metav1.Now()
	switch o := obj.DeepCopyObject().(type) {
	case *v1alpha1.OAuthClient:
		o.DeletionTimestamp = &now
		p := f.clients[o.Namespace+"/"+o.Name]
		f.mem.Directory.PutClient(o, p.secret, p.previous, p.previousExpiresAt)
	case *v1alpha1.OAuthUser:
		o.DeletionTimestamp = &now
		u, err := f.mem.Directory.UserByUID(context.Background(), o.Namespace, o.UID)
		if err != nil {
			t.Fatalf("mark deleting: %v", err)
		}
		f.mem.Directory.PutUser(o, u.Plaintext, u.Hash)
	case *v1alpha1.OAuthResource:
		o.DeletionTimestamp = &now
		f.mem.Directory.PutResource(o)
	default:
		t.Fatalf("mark deleting: unexpected %T", obj)
	}
}

func (f *fixture) PutUnreadable(t *testing.T, kind storetest.Kind, namespace, id string) {
	raw := []byte("{not json")
	switch kind {
	case storetest.FamilyRecords:
		f.mem.Families.PutRaw(namespace, id, raw)
	case storetest.CodeRecords:
		f.mem.Codes.PutRaw(namespace, id, raw)
	case storetest.ConsentRecords:
		f.mem.Consents.PutRaw(namespace, id, raw)
	default:
		t.Fatalf("unknown kind %q", kind)
	}
}

// Settle has nothing to wait for: every read is current.
func (f *fixture) Settle(*testing.T, string) {}

// TestCounts: the counts tell what a path cost.
func TestCounts(t *testing.T) {
	ctx := context.Background()
	m := memstore.New()
	if err := m.Families.Create(ctx, "ns", "f", &store.Family{}, store.Owner{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Families.Get(ctx, "ns", "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Families.Update(ctx, "ns", "f", func(*store.Family) (store.Op, error) { return store.Delete, nil }); err != nil {
		t.Fatal(err)
	}
	want := memstore.Counts{Gets: 1, Updates: 1, Attempts: 1, Writes: 1, Deletes: 1}
	if got := m.Families.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if m.Families.Len() != 0 {
		t.Fatalf("len %d after delete", m.Families.Len())
	}
}

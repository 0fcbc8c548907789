// Package storetest is the conformance suite every store implementation
// passes: the same tests run against memstore under plain `go test` and
// against kubestore under envtest, so a test of the token server written
// against the memory store holds for the cluster.
package storetest

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Kind names a type of record, for PutUnreadable.
type Kind string

// The kinds of records.
const (
	FamilyRecords  Kind = "families"
	CodeRecords    Kind = "codes"
	ConsentRecords Kind = "consents"
)

// Fixture is one test's view of an implementation: fresh stores, and ways to
// put into them what the token server only reads.
type Fixture interface {
	// Stores returns the stores under test. Records of other tests may
	// exist, in other namespaces; revocations start empty.
	Stores() store.Stores
	// Namespace returns a namespace no other test uses.
	Namespace(t *testing.T) string
	// PutClient stores obj as the controllers would leave it (status
	// included) with its credential secrets, and returns it as stored
	// (with a UID). A previous secret counts only with its expiry.
	PutClient(t *testing.T, obj *v1alpha1.OAuthClient, secret, previous string, previousExpiresAt time.Time) *v1alpha1.OAuthClient
	// PutUser stores obj (status included) with a generated plaintext
	// password, or with hash as its spec.password.hash, and returns it as
	// stored.
	PutUser(t *testing.T, obj *v1alpha1.OAuthUser, plaintext, hash string) *v1alpha1.OAuthUser
	// PutResource stores an OAuthResource as the controllers would leave
	// it (status included) and returns it as stored (with a UID).
	PutResource(t *testing.T, obj *v1alpha1.OAuthResource) *v1alpha1.OAuthResource
	// PutNamespaceLabels sets labels on namespace (one from Namespace),
	// besides those the API server sets itself.
	PutNamespaceLabels(t *testing.T, namespace string, labels map[string]string)
	// PutNamespaceAnnotations sets annotations on namespace (one from
	// Namespace), replacing those put before.
	PutNamespaceAnnotations(t *testing.T, namespace string, annotations map[string]string)
	// MarkDeleting makes a client, user or resource put before look as it
	// does while a finalizer holds its deletion: present, with a
	// deletionTimestamp.
	MarkDeleting(t *testing.T, obj client.Object)
	// PutUnreadable stores a record of kind at namespace/id that cannot be
	// decoded, as a hand edit or a corrupt write would leave it.
	PutUnreadable(t *testing.T, kind Kind, namespace, id string)
	// Settle waits until every read that may lag behind writes (the
	// directory, IsRevoked, the listing of Collect) shows every write made
	// so far to namespace and to the revocations.
	Settle(t *testing.T, namespace string)
}

// Harness returns a fresh fixture for one test.
type Harness func(t *testing.T) Fixture

// Run runs the conformance suite. Its subtests run one after another, each
// with its own fixture.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		run  func(*testing.T, Fixture)
	}{
		{"CreateGet", testCreateGet},
		{"UpdateOps", testUpdateOps},
		{"UpdateMissing", testUpdateMissing},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"CollectByReason", testCollectByReason},
		{"CollectExpiry", testCollectExpiry},
		{"CollectLeavesChanged", testCollectLeavesChanged},
		{"Codes", testCodes},
		{"Consents", testConsents},
		{"Revocations", testRevocations},
		{"CountFamilies", testCountFamilies},
		{"CountRevocations", testCountRevocations},
		{"TenantIsolation", testTenantIsolation},
		{"DirectoryClients", testDirectoryClients},
		{"DirectoryClientClash", testDirectoryClientClash},
		{"DirectoryDefaultPath", testDirectoryDefaultPath},
		{"DirectoryUsers", testDirectoryUsers},
		{"DirectoryUserOtherNamespace", testDirectoryUserOtherNamespace},
		{"DirectoryDeleting", testDirectoryDeleting},
		{"DirectoryResources", testDirectoryResources},
		{"DirectoryResourceClash", testDirectoryResourceClash},
		{"DirectoryResourceDeleting", testDirectoryResourceDeleting},
		{"DirectoryNamespaceLabels", testDirectoryNamespaceLabels},
		{"DirectoryNamespaceAnnotations", testDirectoryNamespaceAnnotations},
		{"DirectoryServiceAccounts", testDirectoryServiceAccounts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, h(t)) })
	}
}

// epoch is the suite's fixed now: times in records compare exactly after
// the JSON round trip.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newFamily returns a family alive at epoch: 30 days absolutely, one hour
// idle.
func newFamily(client, user string) *store.Family {
	return &store.Family{
		ClientUID: types.UID("uid-" + client), ClientID: client, UserUID: types.UID("uid-" + user),
		Scopes: []string{"openid"}, Audience: []string{"api"},
		AuthTime: epoch, CreatedAt: epoch, ExpiresAt: epoch.Add(30 * 24 * time.Hour),
		IdleTTL: time.Hour, LastUsedAt: epoch, Current: "digest-0", RotatedAt: epoch, Source: "storetest",
	}
}

// owner is whom the suite's records are issued to.
var owner = store.Owner{UserName: "alice", UserUID: "uid-alice", ClientName: "app", ClientUID: "uid-app"}

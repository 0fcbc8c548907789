// Package store is what the token server keeps and reads, behind small
// interfaces: the directory of clients and users, refresh-token families,
// authorization codes, consents and revoked access tokens. Policy stays with the
// caller: a store only reads, creates, deletes and compare-and-swaps, and an
// update takes the decision as a function of the current record.
//
// Two implementations exist: kubestore (today's behaviour: the manager's
// informer cache for reads, the API server for writes) and memstore (one
// process, for tests and fuzzing). Both pass the conformance suite in
// storetest.
package store

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

var (
	// ErrNotFound: no such record (or client, or user), or one that cannot
	// be used (being deleted, not ready).
	ErrNotFound = errors.New("not found")
	// ErrExists: Create found a record of that id.
	ErrExists = errors.New("already exists")
	// ErrConflict: the record kept changing under an Update; the caller may
	// retry later.
	ErrConflict = errors.New("record is being updated concurrently")
	// ErrUnavailable: the store could not be reached or could not answer
	// (the API server is down, overloaded or cut off). Nothing was
	// decided; the caller may retry later.
	ErrUnavailable = errors.New("the store is unavailable")
)

// ReasonUnreadable is the reason Records.Collect gives for a record it
// cannot decode.
const ReasonUnreadable = "unreadable"

// Client is what the token server needs of an OAuthClient: the object (shared
// with the cache; never modified) and its current secrets.
type Client struct {
	Object            *v1alpha1.OAuthClient
	Secret            string
	PreviousSecret    string
	PreviousExpiresAt time.Time
	// JWKS is the JSON of the client's private_key_jwt keys (inline in the
	// spec, or read from the Secret or ConfigMap it names); empty when it
	// has none or the referenced object or key does not exist.
	JWKS []byte
}

// User is what the token server needs of an OAuthUser to check a password:
// either a plaintext password (generated, or from the user's own Secret) or
// a hash.
type User struct {
	Object    *v1alpha1.OAuthUser
	Plaintext string
	Hash      string
}

// Directory finds clients, users, the resources holding audiences and the
// labels of namespaces. The Kubernetes implementation reads the
// manager's informer cache, so the token path makes no API call.
type Directory interface {
	// ClientByID returns the Ready client holding the client_id. Two
	// objects holding one id is a state the controllers resolve; until then
	// neither is found.
	ClientByID(ctx context.Context, id string) (*Client, error)
	// ClientByName returns the client namespace/name once it has an id.
	ClientByName(ctx context.Context, namespace, name string) (*Client, error)
	// ClientByDefaultPath returns the Ready client whose status holds the
	// token path alias as its default (spec.compatibility.defaultForPaths).
	// Two holders is a state the controller resolves; until then neither
	// is found.
	ClientByDefaultPath(ctx context.Context, path string) (*Client, error)

	// ClientsForServiceAccount returns the clients of namespace, holding a
	// client id, that list the ServiceAccount name in
	// spec.authentication.serviceAccounts.
	ClientsForServiceAccount(ctx context.Context, namespace, name string) ([]*Client, error)
	// User returns the user holding username in namespace, disabled or not.
	User(ctx context.Context, namespace, username string) (*User, error)
	// UserByUID finds a user by UID: refresh tokens and codes are bound to
	// the UID, so a user re-created under the same name is another user.
	UserByUID(ctx context.Context, namespace string, uid types.UID) (*User, error)
	// ResourceByAudience returns the OAuthResource holding audience (the
	// object is shared with the cache; never modify it). Only the holder
	// is found: a resource in conflict, one whose spec asks for another
	// audience since, one being deleted, or an audience held twice (a
	// state the controllers resolve) is ErrNotFound, so no audience is
	// ever granted by a resource that does not own it.
	ResourceByAudience(ctx context.Context, audience string) (*v1alpha1.OAuthResource, error)
	// NamespaceLabels returns the labels of a namespace, which grants'
	// namespace selectors match; ErrNotFound when there is no such
	// namespace. The caller must not modify the map.
	NamespaceLabels(ctx context.Context, namespace string) (map[string]string, error)
	// NamespaceAnnotations returns the annotations of a namespace, where
	// the platform team sets what tenants may not (a tenant edits the
	// objects in its namespace, not the Namespace); ErrNotFound when there
	// is no such namespace. The caller must not modify the map.
	NamespaceAnnotations(ctx context.Context, namespace string) (map[string]string, error)
}

// Owner is whom a record was issued to. The Kubernetes store labels the
// record with the client's name and both UIDs (the collector removes the
// records of a deleted client or user); Count counts by the UIDs.
type Owner struct {
	UserName   string
	UserUID    types.UID
	ClientName string
	ClientUID  types.UID
}

// Op is what an update decided.
type Op int

const (
	// Keep leaves the record as it is.
	Keep Op = iota
	// Write stores the record as the updater changed it.
	Write
	// Delete removes the record.
	Delete
)

// Updater decides an update from the current record, which it may change in
// place before answering Write. A store may call it more than once: first on
// a copy that may lag behind (an informer cache), and again on a fresh read
// when the first answer was an error or Delete, or when the write lost a
// compare-and-swap. So a refusal and a deletion are always decided on fresh
// data, and the updater must be a pure function of the record (plus values
// it captured before the call).
type Updater[T any] func(rec *T) (Op, error)

// Records keeps records of one type by namespace and id.
type Records[T any] interface {
	// Create stores a new record; ErrExists when the id is taken.
	Create(ctx context.Context, namespace, id string, rec *T, owner Owner) error
	// Get reads the record fresh (never a lagging copy); ErrNotFound when
	// there is none or it cannot be decoded.
	Get(ctx context.Context, namespace, id string) (*T, error)
	// Update applies fn as one compare-and-swap and returns the record as
	// it was left: as stored after Write or Keep (a change fn made in
	// place before answering Keep is not kept), nil after Delete. An error
	// from fn is returned as it is, with nil, and nothing is written; with
	// Delete the error (if any) is returned after the deletion (a record
	// someone else deleted meanwhile counts as deleted). ErrNotFound when
	// there is no record or it cannot be decoded, or it was deleted before
	// a Write; ErrConflict when the record kept changing (the caller may
	// retry).
	Update(ctx context.Context, namespace, id string, fn Updater[T]) (*T, error)
	// Delete removes the record; a record already gone is fine.
	Delete(ctx context.Context, namespace, id string) error
	// Collect removes every record for which drop returns a non-empty
	// reason, and counts removals by reason. A record changed since it was
	// listed is left for the next collection. A record that cannot be
	// decoded is removed with reason ReasonUnreadable.
	Collect(ctx context.Context, drop func(namespace string, rec *T) string) (map[string]int, error)
	// Count returns how many records of namespace were issued to owner's
	// client and user (by UID) and are live (nil: every record), for the
	// caller's caps. It makes no API call: the Kubernetes store counts
	// from its cache, which may lag behind a write of another replica by
	// moments, so a cap may be passed by the few creations racing it.
	Count(ctx context.Context, namespace string, owner Owner, live func(rec *T) bool) (int, error)
}

// Revocations records revoked access tokens by jti until they expire.
type Revocations interface {
	// Revoke records jti, a token of client (by UID), until expires;
	// revoking it again keeps the first record.
	Revoke(ctx context.Context, jti string, expires time.Time, client types.UID) error
	// Count returns how many records of client's tokens are kept (expired
	// or not, until Collect removes them), for the caller's cap; from the
	// cache, as IsRevoked.
	Count(ctx context.Context, client types.UID) (int, error)
	// IsRevoked reports whether jti is recorded, expired or not, until
	// Collect removes it. The Kubernetes store answers from its cache, so a
	// revocation on another replica shows after the cache catches up.
	IsRevoked(ctx context.Context, jti string) (bool, error)
	// Collect removes the records whose token expired at or before the
	// given time (the caller adds any leeway for clock skew), and records
	// that cannot be read. It returns how many it removed.
	Collect(ctx context.Context, before time.Time) (int, error)
}

// Stores is everything the token server keeps.
type Stores struct {
	Directory Directory
	Families  Records[Family]
	Codes     Records[AuthCode]
	// Consents are the browser flow's remembered consents, by the client's
	// namespace and ConsentID.
	Consents    Records[Consent]
	Revocations Revocations
	// Reviewer checks ServiceAccount tokens; nil turns ServiceAccount
	// client authentication off (every such assertion is refused).
	Reviewer TokenReviewer
}

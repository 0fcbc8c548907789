// Package kubestore keeps the token server's state in the cluster, as today's
// releases always have: refresh families and authorization codes as Secrets
// in the client's namespace, revoked access tokens as ConfigMaps in the
// operator's namespace, and the directory of clients and users read from the
// manager's informer cache through the contract field indexes.
//
// Reads come from the cache (which makes no API call) with a live read when
// the cache has not seen a record yet; every write is a compare-and-swap on
// the resourceVersion that was read, so replicas never both act on one
// record. The names, labels and data keys below are the stored format: a
// record written by an earlier release must stay readable.
package kubestore

import (
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch;create;update;delete

// The stored format.
const (
	// FamilySecretPrefix starts the name of every refresh-family Secret;
	// the family id follows.
	FamilySecretPrefix = "twrf-"
	// FamilyDataKey holds the JSON of a store.Family in its Secret.
	FamilyDataKey = "family"
	// CodeSecretPrefix starts the name of every authorization-code Secret;
	// the code id follows.
	CodeSecretPrefix = "twrc-"
	// CodeDataKey holds the JSON of a store.AuthCode in its Secret.
	CodeDataKey = "code"
	// ConsentSecretPrefix starts the name of every consent Secret; the
	// consent id (store.ConsentID) follows.
	ConsentSecretPrefix = "twcn-"
	// ConsentDataKey holds the JSON of a store.Consent in its Secret.
	ConsentDataKey = "consent"
	// RevokedPrefix starts the name of every revocation ConfigMap; 40 hex
	// digits of the SHA-256 of the jti follow (a jti is not secret, but
	// need not be a valid object name).
	RevokedPrefix = "twrv-"
	// RevokedExpiresKey holds the RFC 3339 time the revoked token expires,
	// after which the record can go.
	RevokedExpiresKey = "expires_at"
)

// Options are what the stores read and write through.
type Options struct {
	// Cache is the manager's cache reader (the manager's client). It must
	// cache Secrets and ConfigMaps carrying contract.LabelKind and have
	// the contract indexes (contract.SetupIndexes).
	Cache client.Reader
	// Live reads from the API server (the manager's API reader).
	Live client.Reader
	// Writer writes to the API server.
	Writer client.Client
	// Namespace holds the revocation records (the operator's namespace).
	Namespace string
	// Clock dates this process's memo of its own writes; default the wall
	// clock.
	Clock clock.PassiveClock
}

// New returns the Kubernetes-backed stores.
func New(o Options) store.Stores {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return store.Stores{
		Directory: &directory{reader: o.Cache},
		Families: newSecretRecords[store.Family](o, recordKind{
			what: "refresh family", prefix: FamilySecretPrefix, dataKey: FamilyDataKey,
			label: contract.KindRefreshFamily, clientLabel: true,
		}),
		Codes: newSecretRecords[store.AuthCode](o, recordKind{
			what: "authorization code", prefix: CodeSecretPrefix, dataKey: CodeDataKey,
			label: contract.KindAuthorizationCode,
		}),
		Consents: newSecretRecords[store.Consent](o, recordKind{
			what: "consent", prefix: ConsentSecretPrefix, dataKey: ConsentDataKey,
			label: contract.KindConsent, clientLabel: true,
		}),
		Revocations: &revocations{cache: o.Cache, writer: o.Writer, namespace: o.Namespace},
	}
}

// ownerKind is the owner of every record: the user it was issued to, so
// deleting the user deletes its records.
var ownerKind = v1alpha1.GroupVersion.WithKind("OAuthUser")

// memoTTL bounds how long a record this process wrote is preferred to the
// cache, which lags behind writes by a few milliseconds to seconds.
const memoTTL = 10 * time.Second

// memoSize bounds the memo: enough for every family refreshed in memoTTL at
// a few hundred refreshes per second.
const memoSize = 4096

// maxAttempts bounds the compare-and-swap attempts of one Update.
const maxAttempts = 12

// Package kubestore keeps the token server's state in the cluster: refresh
// families and authorization codes as Secrets, and revoked access tokens as
// ConfigMaps, all in the operator's namespace, where no tenant can write
// (earlier releases kept families and codes in the client's namespace;
// legacy.go moves them); and the directory of clients and users read from
// the manager's informer cache through the contract field indexes.
//
// The cache holds records as metadata only, so a replica's memory does not
// grow with every session: it tells whether a record exists (and counts
// them) without an API call, and a record's data is read from the API
// server by name (or from the memo of this process's own writes). Every
// write is a compare-and-swap on the resourceVersion that was read, so
// replicas never both act on one record. The names, labels and data keys
// below are the stored format: a record's JSON written by an earlier
// release must stay readable.
package kubestore

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// The records live in the operator namespace; the migration reads and
// deletes records of the previous release in tenant namespaces (the
// controllers write credential Secrets there anyway). Revocation records
// are ConfigMaps of the operator namespace only.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",namespace=system,resources=configmaps,verbs=get;list;watch;create;delete

// The stored format.
const (
	// FamilySecretPrefix starts the name of every refresh-family Secret;
	// the tenant namespace, a dot and the family id follow (RecordName).
	FamilySecretPrefix = "twrf-"
	// FamilyDataKey holds the JSON of a store.Family in its Secret.
	FamilyDataKey = "family"
	// CodeSecretPrefix starts the name of every authorization-code Secret;
	// the tenant namespace, a dot and the code id follow.
	CodeSecretPrefix = "twrc-"
	// CodeDataKey holds the JSON of a store.AuthCode in its Secret.
	CodeDataKey = "code"
	// ConsentSecretPrefix starts the name of every consent Secret; the
	// tenant namespace, a dot and the consent id (store.ConsentID) follow.
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
	// cache the Secrets and ConfigMaps of contract.ManagedSelector (record
	// Secrets may be stripped of their data, contract.StripForCache) and
	// have the contract indexes (contract.SetupIndexes).
	Cache client.Reader
	// Live reads from the API server (the manager's API reader).
	Live client.Reader
	// Writer writes to the API server.
	Writer client.Client
	// Namespace holds every record (the operator's namespace).
	Namespace string
	// LegacyNamespaces, when set, are the only namespaces the migration
	// looks for the previous release's records in (a namespace-scoped
	// install may not list Secrets cluster-wide); empty: every namespace.
	LegacyNamespaces []string
	// Clock dates this process's memo of its own writes; default the wall
	// clock.
	Clock clock.PassiveClock
}

// New returns the Kubernetes-backed stores.
func New(o Options) store.Stores {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	o = o.availability()
	return store.Stores{
		Directory:   &directory{reader: o.Cache, marker: types.NamespacedName{Namespace: o.Namespace, Name: MigratedSecretName}},
		Families:    newSecretRecords[store.Family](o, familyKind),
		Codes:       newSecretRecords[store.AuthCode](o, codeKind),
		Consents:    newSecretRecords[store.Consent](o, consentKind),
		Revocations: &revocations{cache: o.Cache, writer: o.Writer, namespace: o.Namespace},
		Reviewer:    NewReviewer(o.Writer),
	}
}

// The kinds of record Secrets (never modified).
var (
	familyKind = recordKind{
		what: "refresh family", prefix: FamilySecretPrefix, dataKey: FamilyDataKey,
		label: contract.KindRefreshFamily, clientLabel: true, legacy: true,
	}
	codeKind = recordKind{
		what: "authorization code", prefix: CodeSecretPrefix, dataKey: CodeDataKey,
		label: contract.KindAuthorizationCode, legacy: true,
	}
	consentKind = recordKind{
		what: "consent", prefix: ConsentSecretPrefix, dataKey: ConsentDataKey,
		label: contract.KindConsent, clientLabel: true,
	}
)

// memoTTL bounds how long a record this process wrote is preferred to the
// cache, which lags behind writes by a few milliseconds to seconds.
const memoTTL = 10 * time.Second

// memoSize bounds the memo: enough for every family refreshed in memoTTL at
// a few hundred refreshes per second.
const memoSize = 4096

// maxAttempts bounds the compare-and-swap attempts of one Update.
const maxAttempts = 12

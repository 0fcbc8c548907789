// Package memstore keeps the token server's state in memory, for tests and
// fuzzing: one process, no API server. It behaves as kubestore does (the
// conformance suite in storetest runs against both): records are stored as
// JSON, so a record read back is a copy that went through the stored form,
// and updates are optimistic compare-and-swaps on a version counter, so an
// updater may run more than once as it may against the cluster.
package memstore

import (
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// maxAttempts bounds the compare-and-swap attempts of one Update, as in
// kubestore.
const maxAttempts = 12

// Store is every in-memory store, with the directory to fill.
type Store struct {
	Directory   *Directory
	Families    *Records[store.Family]
	Codes       *Records[store.AuthCode]
	Consents    *Records[store.Consent]
	Revocations *Revocations
	// Reviews answers ServiceAccount token reviews.
	Reviews *Reviews
}

// New returns empty stores.
func New() *Store {
	return &Store{
		Directory:   NewDirectory(),
		Families:    NewRecords[store.Family](),
		Codes:       NewRecords[store.AuthCode](),
		Consents:    NewRecords[store.Consent](),
		Revocations: NewRevocations(),
		Reviews:     NewReviews(time.Now),
	}
}

// Stores returns the stores as the token server takes them.
func (s *Store) Stores() store.Stores {
	return store.Stores{Directory: s.Directory, Families: s.Families, Codes: s.Codes, Consents: s.Consents, Revocations: s.Revocations, Reviewer: s.Reviews}
}

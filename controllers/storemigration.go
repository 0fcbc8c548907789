package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
)

// StoreMigration moves the refresh families and authorization codes the
// previous release kept in tenant namespaces into the operator namespace,
// once (kubestore.Migrate: only records last written before this version
// first started are trusted; see internal/store/kubestore/legacy.go). It is
// a manager Runnable on the leader only; a failure is retried with backoff
// until it succeeds or the manager stops, and the token server moves any
// record it needs meanwhile, so no refresh waits for it.
type StoreMigration struct {
	Store kubestore.Options
	// Retry is the first wait after a failure (doubling, at most five
	// minutes); default five seconds.
	Retry time.Duration
	Log   logr.Logger
}

// NeedLeaderElection is true: one replica migrates.
func (m *StoreMigration) NeedLeaderElection() bool { return true }

// Start migrates, retrying until done or ctx ends.
func (m *StoreMigration) Start(ctx context.Context) error {
	retry := m.Retry
	if retry <= 0 {
		retry = 5 * time.Second
	}
	backoff := wait.Backoff{Duration: retry, Factor: 2, Steps: 1 << 30, Cap: 5 * time.Minute}
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		res, err := kubestore.Migrate(ctx, m.Store)
		if err != nil {
			m.Log.Error(err, "moving records of the previous release failed; retrying")
			return false, nil
		}
		if res != (kubestore.MigrationResult{}) {
			m.Log.Info("records of the previous release moved into the operator namespace",
				"moved", res.Moved, "ignoredWrittenAfterUpgrade", res.Ignored)
		}
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("move records of the previous release: %w", err)
	}
	return nil
}

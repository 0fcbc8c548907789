package controllers

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

var tokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tokenwarden_workload_token_refreshes_total", Help: "Renewals of workload token Secrets by outcome (ok, refused, error, write-failed).",
}, []string{"outcome"})

func init() { ctrlmetrics.Registry.MustRegister(tokenRefreshes) }

// minRemainingDesc describes the gauge tokenExpiries exports.
var minRemainingDesc = prometheus.NewDesc("tokenwarden_workload_token_min_remaining_seconds",
	"Smallest remaining lifetime of any access token in a workload token Secret (NaN when there is none).", nil, nil)

// tokenExpiries holds the expiry of every access token one TokenSecretReconciler
// keeps, and exports the smallest remaining lifetime as a gauge. It belongs
// to the reconciler, not to the process: two managers in one process (tests)
// keep apart, and a stopped manager's tokens are not reported.
type tokenExpiries struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	// byClient maps a client to its token Secrets' expiries by name.
	byClient map[types.NamespacedName]map[string]time.Time
}

func newTokenExpiries(clk clock.PassiveClock) *tokenExpiries {
	return &tokenExpiries{clock: clk, byClient: map[types.NamespacedName]map[string]time.Time{}}
}

// note records the expiry of a client's token Secret; zero forgets it.
func (e *tokenExpiries) note(c types.NamespacedName, secret string, expires time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if expires.IsZero() {
		delete(e.byClient[c], secret)
		return
	}
	if e.byClient[c] == nil {
		e.byClient[c] = map[string]time.Time{}
	}
	e.byClient[c][secret] = expires
}

// keepOnly forgets the Secrets of a client that are no longer declared.
func (e *tokenExpiries) keepOnly(c types.NamespacedName, declared []v1alpha1.TokenSecret) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name := range e.byClient[c] {
		if !declares(declared, name) {
			delete(e.byClient[c], name)
		}
	}
	if len(e.byClient[c]) == 0 {
		delete(e.byClient, c)
	}
}

func declares(declared []v1alpha1.TokenSecret, name string) bool {
	for _, ts := range declared {
		if ts.Name == name {
			return true
		}
	}
	return false
}

// forgetClient drops every expiry of a deleted client.
func (e *tokenExpiries) forgetClient(c types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byClient, c)
}

// minRemaining is the smallest remaining lifetime of any token kept, and
// whether there is any.
func (e *tokenExpiries) minRemaining() (time.Duration, bool) {
	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var lowest time.Duration
	found := false
	for _, secrets := range e.byClient {
		for _, exp := range secrets {
			if d := exp.Sub(now); !found || d < lowest {
				lowest, found = d, true
			}
		}
	}
	return lowest, found
}

// Describe implements prometheus.Collector.
func (e *tokenExpiries) Describe(ch chan<- *prometheus.Desc) { ch <- minRemainingDesc }

// Collect implements prometheus.Collector.
func (e *tokenExpiries) Collect(ch chan<- prometheus.Metric) {
	v := math.NaN()
	if d, ok := e.minRemaining(); ok {
		v = d.Seconds()
	}
	ch <- prometheus.MustNewConstMetric(minRemainingDesc, prometheus.GaugeValue, v)
}

// registeredWhileRunning is a manager Runnable that exports a collector for
// as long as the manager runs. When another manager in the process already
// exports the same metric (only tests start several), this one stays
// unexported rather than failing its manager.
type registeredWhileRunning struct {
	registry  prometheus.Registerer
	collector prometheus.Collector
}

// Start registers the collector and unregisters it when ctx ends.
func (r registeredWhileRunning) Start(ctx context.Context) error {
	err := r.registry.Register(r.collector)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		<-ctx.Done()
		return nil
	}
	if err != nil {
		return err
	}
	<-ctx.Done()
	r.registry.Unregister(r.collector)
	return nil
}

// NeedLeaderElection is false: every replica answers a scrape, a follower
// with NaN (it keeps no tokens), as before.
func (r registeredWhileRunning) NeedLeaderElection() bool { return false }

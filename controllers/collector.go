package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Reasons the Collector gives (the reason label of tokenwarden_collected_total),
// besides store.ReasonUnreadable for a record that cannot be decoded.
const (
	collectExpired  = "expired"
	collectOrphaned = "orphaned"
)

// Collector removes what the token server no longer needs: refresh families
// that expired or whose client or user is gone or disabled, revocation
// records of access tokens that have expired, and authorization-code records
// past their expiry and CodeRetention, and consents whose client or user is
// gone or disabled. The records live in the operator namespace and name
// their tenant namespace (an owner reference cannot cross namespaces), so
// the collector alone removes the records of a deleted client, user or
// namespace. It is a manager Runnable that runs on the leader only. The
// decisions are the pure functions familyDropReason, codeDropReason,
// consentDropReason and revocationCutoff; the stores delete, each record
// only as it was read.
type Collector struct {
	Families    store.Records[store.Family]
	Codes       store.Records[store.AuthCode]
	Consents    store.Records[store.Consent] // the browser flow's; nil: none
	Revocations store.Revocations
	// Reader lists the clients and users of a namespace (the manager's
	// cache), to tell an orphaned family.
	Reader client.Reader
	// Clock dates the decisions and ticks the interval; default the wall
	// clock.
	Clock clock.WithTicker
	// Interval between collections; default DefaultCollectInterval.
	Interval time.Duration
	Log      logr.Logger
}

// CollectStats counts what one collection removed.
type CollectStats struct {
	ExpiredFamilies, OrphanedFamilies, ExpiredRevocations, ExpiredCodes int
	OrphanedConsents                                                    int
}

// Start runs a collection at start and then every Interval until ctx ends.
func (c *Collector) Start(ctx context.Context) error {
	c.defaults()
	t := c.Clock.NewTicker(c.Interval)
	defer t.Stop()
	for {
		if st, err := c.Collect(ctx); err != nil {
			c.Log.Error(err, "collection failed; retrying at the next interval")
		} else if st != (CollectStats{}) {
			c.Log.Info("collected", "expiredFamilies", st.ExpiredFamilies, "orphanedFamilies", st.OrphanedFamilies,
				"expiredRevocations", st.ExpiredRevocations, "expiredCodes", st.ExpiredCodes, "orphanedConsents", st.OrphanedConsents)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// NeedLeaderElection is true: one replica collects.
func (c *Collector) NeedLeaderElection() bool { return true }

func (c *Collector) defaults() {
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Interval <= 0 {
		c.Interval = DefaultCollectInterval
	}
}

// Collect runs one collection. A failure with one kind of record does not
// keep the others from being collected; the errors are returned together.
func (c *Collector) Collect(ctx context.Context) (CollectStats, error) {
	c.defaults()
	now := c.Clock.Now()
	var st CollectStats
	owners := &ownerIndex{reader: c.Reader, memo: map[string]*namespaceOwners{}}
	fams, ferr := c.Families.Collect(ctx, func(ns string, f *store.Family) string {
		var o *namespaceOwners
		if !f.Expired(now) {
			o = owners.lookup(ctx, ns)
		}
		return familyDropReason(f, now, o)
	})
	for reason, n := range fams {
		if reason == collectOrphaned {
			st.OrphanedFamilies += n
		} else {
			st.ExpiredFamilies += n
		}
		collected.WithLabelValues("refresh-family", reason).Add(float64(n))
	}
	codes, cerr := c.Codes.Collect(ctx, func(_ string, code *store.AuthCode) string { return codeDropReason(code, now) })
	for reason, n := range codes {
		st.ExpiredCodes += n
		collected.WithLabelValues("authorization-code", reason).Add(float64(n))
	}
	consents, nerr := c.collectConsents(ctx, owners)
	st.OrphanedConsents = consents
	revs, rerr := c.Revocations.Collect(ctx, revocationCutoff(now))
	if st.ExpiredRevocations = revs; revs > 0 {
		collected.WithLabelValues("revocation", collectExpired).Add(float64(revs))
	}
	if ferr != nil {
		ferr = fmt.Errorf("collect refresh families: %w", ferr)
	}
	if cerr != nil {
		cerr = fmt.Errorf("collect authorization codes: %w", cerr)
	}
	if rerr != nil {
		rerr = fmt.Errorf("collect revocation records: %w", rerr)
	}
	return st, errors.Join(ferr, cerr, nerr, rerr, owners.err)
}

// collectConsents removes the consents consentDropReason names.
func (c *Collector) collectConsents(ctx context.Context, owners *ownerIndex) (int, error) {
	if c.Consents == nil {
		return 0, nil
	}
	removed, err := c.Consents.Collect(ctx, func(ns string, rec *store.Consent) string {
		return consentDropReason(rec, owners.lookup(ctx, ns))
	})
	n := 0
	for reason, k := range removed {
		n += k
		collected.WithLabelValues("consent", reason).Add(float64(k))
	}
	if err != nil {
		err = fmt.Errorf("collect consents: %w", err)
	}
	return n, err
}

// consentDropReason decides whether a consent goes: orphaned when its client
// or user is gone, re-created under another UID, or the user disabled (a
// consent ends with either). owners is nil when unknown: a consent is never
// dropped on a failed read.
func consentDropReason(rec *store.Consent, owners *namespaceOwners) string {
	if owners != nil && !owners.has(rec.ClientUID, rec.UserUID) {
		return collectOrphaned
	}
	return ""
}

// familyDropReason decides whether a refresh family goes: expired (its
// absolute or idle end, store.Family.Expired), or orphaned (its client or
// user gone, re-created under another UID, or the user disabled). owners is
// what the family's namespace holds, nil when unknown (the listing failed):
// a family is never dropped as orphaned on a failed read.
func familyDropReason(f *store.Family, now time.Time, owners *namespaceOwners) string {
	switch {
	case f.Expired(now):
		return collectExpired
	case owners != nil && !owners.alive(f):
		return collectOrphaned
	}
	return ""
}

// codeDropReason decides whether an authorization-code record goes: once
// its code expired and CodeRetention has passed, no second use needs
// recognising.
func codeDropReason(code *store.AuthCode, now time.Time) string {
	if now.Before(code.ExpiresAt.Add(CodeRetention)) {
		return ""
	}
	return collectExpired
}

// revocationCutoff is the time before which a revoked token's record may go:
// revocationLeeway ago, since a verifier accepts a token a little past its
// expiry.
func revocationCutoff(now time.Time) time.Time { return now.Add(-revocationLeeway) }

// namespaceOwners is what one namespace holds: client UIDs, and user UIDs
// with whether the user is disabled.
type namespaceOwners struct {
	clients map[types.UID]bool
	users   map[types.UID]bool // value: disabled
}

// alive reports whether the family's client and user still exist with the
// UIDs it was issued to, and the user is not disabled.
func (o *namespaceOwners) alive(f *store.Family) bool {
	return o.has(f.ClientUID, f.UserUID)
}

// has reports whether the client and the user exist with these UIDs and the
// user is not disabled.
func (o *namespaceOwners) has(client, user types.UID) bool {
	disabled, ok := o.users[user]
	return o.clients[client] && ok && !disabled
}

// ownerIndex lists each namespace's clients and users once per collection.
// The store calls the drop function with no way to fail, so a listing error
// is kept in err (and the namespace's families are kept).
type ownerIndex struct {
	reader client.Reader
	memo   map[string]*namespaceOwners
	err    error
}

func (x *ownerIndex) lookup(ctx context.Context, namespace string) *namespaceOwners {
	if o, ok := x.memo[namespace]; ok {
		return o
	}
	o, err := listOwners(ctx, x.reader, namespace)
	if err != nil {
		x.err = errors.Join(x.err, err)
	}
	x.memo[namespace] = o
	return o
}

// listOwners reads the clients and users of a namespace; nil on error.
func listOwners(ctx context.Context, r client.Reader, namespace string) (*namespaceOwners, error) {
	var cl v1alpha1.OAuthClientList
	if err := r.List(ctx, &cl, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list clients of %s: %w", namespace, err)
	}
	var ul v1alpha1.OAuthUserList
	if err := r.List(ctx, &ul, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list users of %s: %w", namespace, err)
	}
	o := &namespaceOwners{clients: map[types.UID]bool{}, users: map[types.UID]bool{}}
	for _, x := range cl.Items {
		o.clients[x.UID] = true
	}
	for _, x := range ul.Items {
		o.users[x.UID] = x.Spec.Disabled
	}
	return o, nil
}

var collected = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tokenwarden_collected_total", Help: "Records removed by the collector, by kind (refresh-family, revocation, authorization-code, consent) and reason.",
}, []string{"kind", "reason"})

func init() { ctrlmetrics.Registry.MustRegister(collected) }

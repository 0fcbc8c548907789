package tokenserver

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=delete

// Collector removes what the token server no longer needs: refresh families
// that expired or whose client or user is gone or disabled, revocation
// records of access tokens that have expired, and authorization-code records
// past their expiry and retention. Owner references already let
// the cluster's garbage collector remove the families of a deleted user; the
// collector covers everything else, and clusters without a garbage collector.
// It runs on the leader only.
type Collector struct {
	// Reader lists from the cache; Writer deletes.
	Reader client.Reader
	Writer client.Client
	// Namespace holds the revocation records.
	Namespace string
	Clock     clock.PassiveClock
	// Interval between collections; default 10 minutes.
	Interval time.Duration
	Log      logr.Logger
}

// CollectStats counts what one collection removed.
type CollectStats struct {
	ExpiredFamilies, OrphanedFamilies, ExpiredRevocations, ExpiredCodes int
}

// Start runs a collection at start and then every Interval.
func (c *Collector) Start(ctx context.Context) error {
	interval := c.Interval
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if st, err := c.Collect(ctx); err != nil {
			c.Log.Error(err, "collection failed; retrying at the next interval")
		} else if st != (CollectStats{}) {
			c.Log.Info("collected", "expiredFamilies", st.ExpiredFamilies, "orphanedFamilies", st.OrphanedFamilies, "expiredRevocations", st.ExpiredRevocations, "expiredCodes", st.ExpiredCodes)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: one replica collects.
func (c *Collector) NeedLeaderElection() bool { return true }

// Collect runs one collection.
func (c *Collector) Collect(ctx context.Context) (CollectStats, error) {
	var st CollectStats
	now := c.Clock.Now()
	var fams corev1.SecretList
	if err := c.Reader.List(ctx, &fams, client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily}); err != nil {
		return st, fmt.Errorf("list refresh families: %w", err)
	}
	memo := map[string]*owners{}
	for i := range fams.Items {
		s := &fams.Items[i]
		var f family
		reason := ""
		switch {
		case json.Unmarshal(s.Data[FamilyDataKey], &f) != nil:
			reason = "unreadable"
		case f.expired(now):
			reason = "expired"
		default:
			o, err := c.ownersIn(ctx, memo, s.Namespace)
			if err != nil {
				return st, err
			}
			if !o.alive(&f) {
				reason = "orphaned"
			}
		}
		if reason == "" {
			continue
		}
		// The resourceVersion precondition keeps a family that was just
		// used (and so is no longer idle) from being removed on stale data.
		rv := s.ResourceVersion
		err := c.Writer.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &rv})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return st, fmt.Errorf("delete refresh family %s/%s: %w", s.Namespace, s.Name, err)
		}
		if err != nil {
			continue
		}
		if reason == "orphaned" {
			st.OrphanedFamilies++
		} else {
			st.ExpiredFamilies++
		}
		collected.WithLabelValues("refresh-family", reason).Inc()
	}
	var recs corev1.ConfigMapList
	if err := c.Reader.List(ctx, &recs, client.InNamespace(c.Namespace), client.MatchingLabels{contract.LabelKind: contract.KindRevokedToken}); err != nil {
		return st, fmt.Errorf("list revocation records: %w", err)
	}
	for i := range recs.Items {
		cm := &recs.Items[i]
		exp, err := time.Parse(time.RFC3339, cm.Data[RevokedExpiresKey])
		// Keep records a little past the token's expiry: verifiers allow
		// clock skew.
		if err == nil && now.Before(exp.Add(revocationLeeway)) {
			continue
		}
		if err := c.Writer.Delete(ctx, cm, client.Preconditions{UID: &cm.UID}); err != nil && !apierrors.IsNotFound(err) {
			return st, fmt.Errorf("delete revocation record %s: %w", cm.Name, err)
		}
		st.ExpiredRevocations++
		collected.WithLabelValues("revocation", "expired").Inc()
	}
	n, err := c.collectCodes(ctx, now)
	st.ExpiredCodes = n
	return st, err
}

// collectCodes removes authorization-code records once their code has
// expired and the retention for recognising a second use has passed. An
// unreadable record is removed too: no code can be redeemed against it.
func (c *Collector) collectCodes(ctx context.Context, now time.Time) (int, error) {
	var codes corev1.SecretList
	if err := c.Reader.List(ctx, &codes, client.MatchingLabels{contract.LabelKind: contract.KindAuthorizationCode}); err != nil {
		return 0, fmt.Errorf("list authorization codes: %w", err)
	}
	n := 0
	for i := range codes.Items {
		s := &codes.Items[i]
		var rec authCode
		if json.Unmarshal(s.Data[CodeDataKey], &rec) == nil && now.Before(rec.ExpiresAt.Add(CodeRetention)) {
			continue
		}
		if err := c.Writer.Delete(ctx, s, client.Preconditions{UID: &s.UID}); err != nil && !apierrors.IsNotFound(err) {
			return n, fmt.Errorf("delete authorization code %s/%s: %w", s.Namespace, s.Name, err)
		}
		n++
		collected.WithLabelValues("authorization-code", "expired").Inc()
	}
	return n, nil
}

// revocationLeeway outlasts the verification leeway of expiry checks.
const revocationLeeway = time.Minute

// owners is what one namespace holds: client UIDs, and user UIDs with whether
// the user is disabled.
type owners struct {
	clients map[types.UID]bool
	users   map[types.UID]bool // value: disabled
}

// ownersIn lists a namespace's clients and users once per collection.
func (c *Collector) ownersIn(ctx context.Context, memo map[string]*owners, namespace string) (*owners, error) {
	if o, ok := memo[namespace]; ok {
		return o, nil
	}
	o := &owners{clients: map[types.UID]bool{}, users: map[types.UID]bool{}}
	var cl v1alpha1.OAuthClientList
	if err := c.Reader.List(ctx, &cl, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	for _, x := range cl.Items {
		o.clients[x.UID] = true
	}
	var ul v1alpha1.OAuthUserList
	if err := c.Reader.List(ctx, &ul, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for _, x := range ul.Items {
		o.users[x.UID] = x.Spec.Disabled
	}
	memo[namespace] = o
	return o, nil
}

// alive reports whether the family's client and user still exist with the
// UIDs it was issued to, and the user is not disabled.
func (o *owners) alive(f *family) bool {
	disabled, ok := o.users[f.UserUID]
	return o.clients[f.ClientUID] && ok && !disabled
}

var collected = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tokenwarden_collected_total", Help: "Records removed by the collector, by kind (refresh-family, revocation, authorization-code) and reason.",
}, []string{"kind", "reason"})

func init() { ctrlmetrics.Registry.MustRegister(collected) }

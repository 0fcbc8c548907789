package kubestore

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
)

// writeMemo remembers the records this process wrote in the last memoTTL.
// The informer cache lags behind our own writes, and a client that refreshes
// again right away (a retry, a chained workload) would otherwise cost a live
// read. Like the cache, it only feeds the first attempt of an Update: the
// write is a compare-and-swap either way, so a stale entry costs a conflict
// and a live read, never a wrong answer.
type writeMemo struct {
	clock   clock.PassiveClock
	entries *lru.Cache // types.NamespacedName → memoEntry
}

type memoEntry struct {
	secret *corev1.Secret
	at     time.Time
}

func newWriteMemo(c clock.PassiveClock) *writeMemo {
	return &writeMemo{clock: c, entries: lru.New(memoSize)}
}

// remember keeps a copy of s as the API server returned it.
func (m *writeMemo) remember(s *corev1.Secret) {
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	m.entries.Add(key, memoEntry{secret: s.DeepCopy(), at: m.clock.Now()})
}

// recall returns a copy of the Secret written under key within memoTTL.
func (m *writeMemo) recall(key types.NamespacedName) (*corev1.Secret, bool) {
	v, ok := m.entries.Get(key)
	if !ok {
		return nil, false
	}
	e := v.(memoEntry)
	if m.clock.Since(e.at) >= memoTTL {
		m.entries.Remove(key)
		return nil, false
	}
	return e.secret.DeepCopy(), true
}

// forget drops key (the record was deleted).
func (m *writeMemo) forget(key types.NamespacedName) {
	m.entries.Remove(key)
}

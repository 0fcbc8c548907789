package contract

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// RecordKinds are the kinds of the token server's record Secrets (refresh
// families, authorization codes, consents). They can number hundreds of
// thousands, so a cache holds them without their data (StripForCache): it
// tells whether a record exists, and counts them, for a few hundred bytes
// each, and a record's data is read from the API server by name.
var RecordKinds = []string{KindRefreshFamily, KindAuthorizationCode, KindConsent}

// ManagedSelector selects the Secrets and ConfigMaps a cache holds: those
// Tokenwarden writes or reads (carrying LabelKind), so the manager never
// holds every Secret of the cluster in memory.
func ManagedSelector() labels.Selector {
	r, err := labels.NewRequirement(LabelKind, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key
	}
	return labels.NewSelector().Add(*r)
}

// StripForCache is the transform of every object a cache stores: managed
// fields go (nothing reads them), and a record Secret keeps its metadata
// only. Code that needs a record's data reads it from the API server.
func StripForCache(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	if s, ok := in.(*corev1.Secret); ok && slices.Contains(RecordKinds, s.Labels[LabelKind]) {
		s.Data, s.StringData = nil, nil
	}
	return in, nil
}

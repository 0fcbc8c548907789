package contract

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStripForCache: a cache keeps a record Secret's metadata (its name,
// labels and resourceVersion: existence and counts) but not its data, and
// every other Secret whole; no object keeps managed fields.
func TestStripForCache(t *testing.T) {
	secret := func(kind string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "s", ResourceVersion: "7", Labels: map[string]string{LabelKind: kind},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "tokenwarden"}}},
			Data: map[string][]byte{"k": []byte("v")},
		}
	}
	for _, kind := range RecordKinds {
		out, err := StripForCache(secret(kind))
		s := out.(*corev1.Secret)
		if err != nil || s.Data != nil || s.ManagedFields != nil || s.ResourceVersion != "7" || s.Labels[LabelKind] != kind {
			t.Errorf("%s record after the transform: %+v, %v", kind, s, err)
		}
	}
	for _, kind := range []string{KindClient, KindUser, KindSigningKeys, KindWorkloadToken, KindPasswordSource} {
		out, _ := StripForCache(secret(kind))
		if s := out.(*corev1.Secret); string(s.Data["k"]) != "v" || s.ManagedFields != nil {
			t.Errorf("%s Secret after the transform: %+v", kind, s)
		}
	}
}

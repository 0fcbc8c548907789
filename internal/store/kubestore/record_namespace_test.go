package kubestore_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
)

// TestRecordOfAnotherNamespaceIgnored: a record Secret in the operator
// namespace under the name of namespace N's record, but labelled for
// another namespace (or for none), is not N's: reading or rotating it for N
// finds nothing. The name alone never decides whose record it is.
func TestRecordOfAnotherNamespaceIgnored(t *testing.T) {
	ctx := context.Background()
	opns, victim := env.Namespace(t), env.Namespace(t)
	st := newStores(opns, mgr.GetAPIReader()).Families
	for id, labelled := range map[string]string{"labelled-other": "some-other-namespace", "labelled-none": ""} {
		labels := contract.ManagedLabels(contract.KindRefreshFamily, "")
		if labelled != "" {
			labels[contract.LabelRecordNamespace] = labelled
		}
		create(t, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: opns, Name: kubestore.RecordName(kubestore.FamilySecretPrefix, victim, id), Labels: labels},
			Data:       map[string][]byte{kubestore.FamilyDataKey: []byte(`{"clientUID":"uid-app","current":"d0"}`)},
		})
		if f, err := st.Get(ctx, victim, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: read for %s: %+v, %v; want ErrNotFound", id, victim, f, err)
		}
		if _, err := st.Update(ctx, victim, id, rotate("attacker")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: rotated for %s: %v; want ErrNotFound", id, victim, err)
		}
	}
}

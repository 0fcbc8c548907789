package controllers

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// forbiddenReader answers every read as RBAC without get on ConfigMaps does.
type forbiddenReader struct{ client.Reader }

func (forbiddenReader) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, key.Name, nil)
}

// TestClientKeysConfigMapForbidden: without the right to read the tenant's
// ConfigMap (the default install), the client says so in ClientKeysReady,
// keeps no keys and tries again later; the reconcile does not fail.
func TestClientKeysConfigMapForbidden(t *testing.T) {
	r := &OAuthClientReconciler{APIReader: forbiddenReader{}, Recorder: events.NewFakeRecorder(10)}
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "signer", Generation: 1}, Spec: v1alpha1.OAuthClientSpec{
		Authentication: &v1alpha1.ClientAuthentication{PrivateKeyJWT: &v1alpha1.PrivateKeyJWT{ConfigMapRef: &v1alpha1.KeyReference{Name: "keys"}}},
	}}
	ck, err := r.reconcileClientKeys(context.Background(), c)
	if err != nil {
		t.Fatalf("reconcile failed: %v", err)
	}
	cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionClientKeysReady)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != reasonClientKeysUnreadable {
		t.Fatalf("ClientKeysReady %+v, want False/%s", cond, reasonClientKeysUnreadable)
	}
	if ck.copied != nil || ck.requeue != clientKeysPoll {
		t.Fatalf("decision %+v: want no keys and a retry in %s", ck, clientKeysPoll)
	}
}

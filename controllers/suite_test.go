package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

const (
	issuer = "https://auth.example.test"
	// operatorNamespace holds the suite manager's signing keys.
	operatorNamespace = "tokenwarden-system"
)

var (
	env   *testenv.Env
	mgr   manager.Manager
	clock = clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
)

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) (func(), error) {
		ctx, cancel := context.WithCancel(context.Background())
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
		if err := e.Client.Create(ctx, ns); err != nil {
			cancel()
			return nil, err
		}
		var err error
		o := testenv.OperatorOptions(operatorNamespace, issuer)
		o.Clock = clock
		mgr, err = operator.NewManager(ctx, e.Config, o)
		if err != nil {
			cancel()
			return nil, err
		}
		return testenv.RunManager(ctx, cancel, mgr), nil
	})
}

// eventually is gomega's Eventually with the timeouts these tests use.
func eventually(t *testing.T, f any) gomega.AsyncAssertion {
	return gomega.NewWithT(t).Eventually(f).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond)
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// readyCondition fetches obj and returns its Ready condition (nil when unset).
func readyCondition(t *testing.T, obj client.Object) func() *metav1.Condition {
	return func() *metav1.Condition {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return nil
		}
		switch o := obj.(type) {
		case *v1alpha1.OAuthClient:
			return meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady)
		case *v1alpha1.OAuthUser:
			return meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady)
		case *v1alpha1.OAuthResource:
			return meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady)
		}
		t.Fatalf("unexpected type %T", obj)
		return nil
	}
}

// waitReady waits for Ready with the given status and reason.
func waitReady(t *testing.T, obj client.Object, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, func() bool {
		got = readyCondition(t, obj)()
		return got != nil && got.Status == status && got.Reason == reason && got.ObservedGeneration == obj.GetGeneration()
	}).Should(gomega.BeTrue(), "Ready=%s/%s on %s", status, reason, obj.GetName())
	return got
}

func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatalf("get secret %s: %v", name, err)
	}
	return &s
}

// secretData polls a Secret's data key.
func secretData(ns, name, key string) func() string {
	return func() string {
		var s corev1.Secret
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
			return ""
		}
		return string(s.Data[key])
	}
}

// eventReasons lists the reasons of the Events about an object.
func eventReasons(ns, name string) func() []string {
	return func() []string {
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return nil
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Name == name {
				out = append(out, e.Reason)
			}
		}
		return out
	}
}

// touch changes an annotation so the controller reconciles the object now;
// with the fake clock, scheduled requeues do not fire by themselves.
func touch(t *testing.T, obj client.Object) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"test/touch":"%d"}}}`, time.Now().UnixNano()))
	if err := env.Client.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("touch: %v", err)
	}
}

package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tokenwarden/tokenwarden/controllers"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/operator"
)

// storedKeys reads the key Secret and the JWKS ConfigMap of ns once they
// agree: the ConfigMap is written after the Secret, and another writer may
// move both on in between.
func storedKeys(t *testing.T, ns string) ([]keys.Key, *corev1.Secret, string) {
	t.Helper()
	ctx := context.Background()
	var ks []keys.Key
	var s corev1.Secret
	var cm corev1.ConfigMap
	eventually(t, func() error {
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: keys.SecretName}, &s); err != nil {
			return err
		}
		var err error
		if ks, err = keys.Decode(s.Data[keys.SecretDataKey]); err != nil {
			return err
		}
		want, err := keys.NewSet(ks)
		if err != nil {
			return err
		}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: keys.ConfigMapName}, &cm); err != nil {
			return err
		}
		if cm.Data[keys.ConfigMapKey] != string(want.JWKS()) {
			return fmt.Errorf("the JWKS ConfigMap does not publish the keys of the Secret yet")
		}
		return nil
	}).Should(gomega.Succeed())
	return ks, &s, cm.Data[keys.ConfigMapKey]
}

// states summarises keys per algorithm, e.g. "ES256:active,next RS256:active,next".
func states(ks []keys.Key) string {
	per := map[keys.Algorithm][]string{}
	for _, k := range ks {
		per[k.Algorithm] = append(per[k.Algorithm], string(k.State))
	}
	var out []string
	for alg, st := range per {
		sort.Strings(st)
		out = append(out, string(alg)+":"+strings.Join(st, ","))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// jwksKids lists the kids of a JWKS document.
func jwksKids(t *testing.T, doc string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(doc), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatalf("JWKS publishes private key material of %s", k.KID)
		}
		out = append(out, k.KID)
	}
	sort.Strings(out)
	return out
}

func kids(ks []keys.Key) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.ID)
	}
	sort.Strings(out)
	return out
}

func TestSigningKeysCreatedOnFirstStart(t *testing.T) {
	g := gomega.NewWithT(t)
	// The suite's manager runs in tokenwarden-system.
	eventually(t, func() error {
		return env.Client.Get(context.Background(), types.NamespacedName{Namespace: operatorNamespace, Name: keys.ConfigMapName}, &corev1.ConfigMap{})
	}).Should(gomega.Succeed())
	ks, s, jwks := storedKeys(t, operatorNamespace)
	g.Expect(states(ks)).To(gomega.Equal("ES256:active,next RS256:active,next"))
	g.Expect(s.Labels).To(gomega.HaveKeyWithValue(contract.LabelKind, contract.KindSigningKeys))
	g.Expect(jwksKids(t, jwks)).To(gomega.Equal(kids(ks)))
	var cm corev1.ConfigMap
	g.Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: operatorNamespace, Name: keys.ConfigMapName}, &cm)).To(gomega.Succeed())
	g.Expect(cm.OwnerReferences).To(gomega.HaveLen(1))
	g.Expect(cm.OwnerReferences[0].UID).To(gomega.Equal(s.UID))
	g.Expect(eventReasons(operatorNamespace, keys.SecretName)()).To(gomega.ContainElements("KeyGenerated", "KeyActivated"))
}

// keyReconciler drives a signing-key reconciler by hand against the real API
// server, with its own clock, in its own namespace.
func keyReconciler(t *testing.T, ns string, clk *clocktesting.FakeClock, s keys.Settings) *controllers.SigningKeyReconciler {
	return &controllers.SigningKeyReconciler{
		Client: env.Client, APIReader: env.Client, Recorder: events.NewFakeRecorder(100),
		Clock: clk, Namespace: ns, Settings: s, Generate: keys.GenerateKey,
	}
}

func reconcileKeys(t *testing.T, r *controllers.SigningKeyReconciler) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func TestSigningKeysRotateThroughSimulatedTime(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	s := keys.Settings{
		Algorithms: []keys.Algorithm{keys.ES256, keys.EdDSA}, RotationPeriod: 24 * time.Hour,
		PublishAhead: 2 * time.Hour, RetainAfterRetire: 2 * time.Hour,
	}
	r := keyReconciler(t, ns, clk, s)
	reconcileKeys(t, r)
	first, _, jwks := storedKeys(t, ns)
	g.Expect(states(first)).To(gomega.Equal("ES256:active,next EdDSA:active,next"))
	g.Expect(jwksKids(t, jwks)).To(gomega.Equal(kids(first)))

	// A reconcile with nothing due writes nothing.
	_, before, _ := storedKeys(t, ns)
	reconcileKeys(t, r)
	_, after, _ := storedKeys(t, ns)
	g.Expect(after.ResourceVersion).To(gomega.Equal(before.ResourceVersion))

	// Walk 5 days hour by hour, reconciling when the controller asks to.
	due := clk.Now()
	activeKids := map[string]bool{}
	for h := 0; h < 5*24; h++ {
		clk.Step(time.Hour)
		if clk.Now().Before(due) {
			continue
		}
		res := reconcileKeys(t, r)
		g.Expect(res.RequeueAfter).To(gomega.BeNumerically(">", 0))
		due = clk.Now().Add(res.RequeueAfter)
		ks, _, jwks := storedKeys(t, ns)
		g.Expect(jwksKids(t, jwks)).To(gomega.Equal(kids(ks)), "hour %d: ConfigMap JWKS matches the Secret", h)
		for _, k := range ks {
			if k.State == keys.StateActive {
				activeKids[k.ID] = true
			}
		}
		// Right after a rotation the retired key is still published; two
		// hours later it is gone.
		st := states(ks)
		g.Expect(st).To(gomega.Or(
			gomega.Equal("ES256:active,next EdDSA:active,next"),
			gomega.Equal("ES256:active,next,retired EdDSA:active,next,retired")), "hour %d", h)
	}
	// First keys plus one activation a day per algorithm.
	g.Expect(activeKids).To(gomega.HaveLen(2 + 2*5))

	// The loop ended on a rotation, so the next key is brand new: a
	// requested rotation waits until it has been published for
	// publish-ahead, then happens and clears the annotation.
	ks, sec, _ := storedKeys(t, ns)
	oldActive := activeOf(ks, keys.ES256)
	annotate(t, sec, "now")
	reconcileKeys(t, r)
	ks, sec, _ = storedKeys(t, ns)
	g.Expect(activeOf(ks, keys.ES256)).To(gomega.Equal(oldActive))
	g.Expect(sec.Annotations).To(gomega.HaveKey(keys.AnnotationRotate))
	clk.Step(s.PublishAhead)
	reconcileKeys(t, r)
	ks, sec, _ = storedKeys(t, ns)
	g.Expect(activeOf(ks, keys.ES256)).NotTo(gomega.Equal(oldActive))
	g.Expect(stateOf(ks, oldActive)).To(gomega.Equal(keys.StateRetired), "a requested rotation keeps the old key published")
	g.Expect(sec.Annotations).NotTo(gomega.HaveKey(keys.AnnotationRotate))

	// A compromised key disappears from the JWKS at once.
	oldActive = activeOf(ks, keys.ES256)
	annotate(t, sec, keys.RotateCompromised)
	reconcileKeys(t, r)
	ks, sec, jwks = storedKeys(t, ns)
	g.Expect(stateOf(ks, oldActive)).To(gomega.BeEmpty())
	g.Expect(jwksKids(t, jwks)).NotTo(gomega.ContainElement(oldActive))
	g.Expect(activeOf(ks, keys.ES256)).NotTo(gomega.BeEmpty())
	g.Expect(sec.Annotations).NotTo(gomega.HaveKey(keys.AnnotationRotate))
}

func activeOf(ks []keys.Key, alg keys.Algorithm) string {
	for _, k := range ks {
		if k.Algorithm == alg && k.State == keys.StateActive {
			return k.ID
		}
	}
	return ""
}

func stateOf(ks []keys.Key, kid string) keys.State {
	for _, k := range ks {
		if k.ID == kid {
			return k.State
		}
	}
	return ""
}

func annotate(t *testing.T, s *corev1.Secret, value string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, keys.AnnotationRotate, value)
	if err := env.Client.Patch(context.Background(), s, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

func TestSigningKeysUnreadableSecretIsNotOverwritten(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	broken := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: keys.SecretName},
		Data:       map[string][]byte{keys.SecretDataKey: []byte("not json")},
	}
	create(t, broken)
	r := keyReconciler(t, ns, clocktesting.NewFakeClock(time.Now()), keys.DefaultSettings())
	_, err := r.Reconcile(context.Background(), ctrl.Request{})
	g.Expect(err).To(gomega.HaveOccurred())
	g.Expect(string(getSecret(t, ns, keys.SecretName).Data[keys.SecretDataKey])).To(gomega.Equal("not json"))
}

// TestTwoManagersNeverTwoActiveKeys starts two managers running the
// signing-key controller against one namespace, without leader election, so
// both write concurrently: compare-and-swap must leave exactly one active key
// per algorithm through first start and several rotations.
func TestTwoManagersNeverTwoActiveKeys(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := env.Namespace(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	s := keys.Settings{
		Algorithms: []keys.Algorithm{keys.ES256}, RotationPeriod: time.Hour,
		PublishAhead: 10 * time.Minute, RetainAfterRetire: 30 * time.Minute,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	skip := true
	for i := range 2 {
		m, err := ctrl.NewManager(env.Config, ctrl.Options{
			Scheme: operator.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
			Controller: config.Controller{SkipNameValidation: &skip},
		})
		g.Expect(err).NotTo(gomega.HaveOccurred())
		r := &controllers.SigningKeyReconciler{
			Client: m.GetClient(), APIReader: m.GetAPIReader(), Recorder: m.GetEventRecorder(fmt.Sprintf("replica-%d", i)),
			Clock: clk, Namespace: ns, Settings: s, Generate: keys.GenerateKey,
		}
		g.Expect(r.SetupWithManager(m)).To(gomega.Succeed())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Start(ctx); err != nil {
				t.Errorf("manager %d: %v", i, err)
			}
		}()
	}
	settled := func() string {
		var sec corev1.Secret
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: keys.SecretName}, &sec); err != nil {
			return err.Error()
		}
		ks, err := keys.Decode(sec.Data[keys.SecretDataKey])
		if err != nil {
			return err.Error()
		}
		return states(ks)
	}
	eventually(t, settled).Should(gomega.Equal("ES256:active,next"))
	seen := map[string]bool{}
	for round := range 4 {
		ks, sec, _ := storedKeys(t, ns)
		before := activeOf(ks, keys.ES256)
		seen[before] = true
		clk.Step(time.Hour)
		// Both replicas see the change and race to rotate.
		touch(t, sec)
		eventually(t, func() string {
			ks, _, _ := storedKeys(t, ns)
			return activeOf(ks, keys.ES256)
		}).ShouldNot(gomega.Equal(before), "round %d", round)
		// Retired keys come and go; at no point two active or two next keys.
		gomega.NewWithT(t).Consistently(func() string {
			ks, _, _ := storedKeys(t, ns)
			a, n := 0, 0
			for _, k := range ks {
				switch k.State {
				case keys.StateActive:
					a++
				case keys.StateNext:
					n++
				}
			}
			return fmt.Sprintf("%d active, %d next", a, n)
		}).WithTimeout(time.Second).WithPolling(50*time.Millisecond).Should(gomega.Equal("1 active, 1 next"), "round %d", round)
	}
	ks, _, jwks := storedKeys(t, ns)
	seen[activeOf(ks, keys.ES256)] = true
	g.Expect(seen).To(gomega.HaveLen(5), "one new active key per rotation, not two")
	g.Expect(jwksKids(t, jwks)).To(gomega.Equal(kids(ks)))
}

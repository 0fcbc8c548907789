package kubestore_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/internal/store/storetest"
)

// fixture puts objects into the API server as the controllers would leave
// them and reads through the manager's cache, as the token server does.
type fixture struct {
	stores     store.Stores
	operatorNS string
}

func newFixture(t *testing.T) storetest.Fixture {
	ns := env.Namespace(t)
	return &fixture{stores: newStores(ns, mgr.GetAPIReader()), operatorNS: ns}
}

// newStores returns a store set as a token-server replica builds it, with
// its own memo; live is what it reads the API server through.
func newStores(operatorNS string, live client.Reader) store.Stores {
	return newStoresReading(operatorNS, mgr.GetClient(), live)
}

// newStoresReading is newStores with the cache reader given too.
func newStoresReading(operatorNS string, cache, live client.Reader) store.Stores {
	return kubestore.New(kubestore.Options{
		Cache: cache, Live: live, Writer: mgr.GetClient(),
		Namespace: operatorNS, Clock: clock.RealClock{},
	})
}

func (f *fixture) Stores() store.Stores { return f.stores }

func (f *fixture) Namespace(t *testing.T) string { return env.Namespace(t) }

// waitFor polls cond until it returns nil, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCached waits until the cache holds obj at its resourceVersion.
func waitCached(t *testing.T, obj client.Object) {
	t.Helper()
	cached := obj.DeepCopyObject().(client.Object)
	waitFor(t, "cache to see "+obj.GetName(), func() error {
		if err := mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(obj), cached); err != nil {
			return err
		}
		if cached.GetResourceVersion() != obj.GetResourceVersion() {
			return fmt.Errorf("cached at %s, written at %s", cached.GetResourceVersion(), obj.GetResourceVersion())
		}
		return nil
	})
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// credentialSecret writes a credential Secret as the controllers do.
func credentialSecret(t *testing.T, ns, name, kind string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: contract.ManagedLabels(kind, "")},
		StringData: data,
	}
	create(t, s)
	waitCached(t, s)
}

func (f *fixture) PutClient(t *testing.T, obj *v1alpha1.OAuthClient, secret, previous string, previousExpiresAt time.Time) *v1alpha1.OAuthClient {
	t.Helper()
	c := obj.DeepCopy()
	status := c.Status
	if !c.Spec.Public {
		status.SecretName = c.Name + "-oauth-client"
		data := map[string]string{contract.KeyClientID: status.ClientID, contract.KeyClientSecret: secret}
		if !previousExpiresAt.IsZero() {
			data[contract.KeyClientSecretPrevious] = previous
			data[contract.KeyClientSecretPreviousExpireAt] = previousExpiresAt.UTC().Format(time.RFC3339)
		}
		credentialSecret(t, c.Namespace, status.SecretName, contract.KindClient, data)
	}
	create(t, c)
	c.Status = status
	if err := env.Client.Status().Update(context.Background(), c); err != nil {
		t.Fatalf("client status: %v", err)
	}
	waitCached(t, c)
	return c
}

func (f *fixture) PutUser(t *testing.T, obj *v1alpha1.OAuthUser, plaintext, hash string) *v1alpha1.OAuthUser {
	t.Helper()
	u := obj.DeepCopy()
	status := u.Status
	if hash != "" {
		u.Spec.Password.Hash = hash
		status.PasswordSource = v1alpha1.PasswordHash
	} else {
		status.SecretName = u.Name + "-oauth-user"
		status.PasswordSource = v1alpha1.PasswordGenerated
		credentialSecret(t, u.Namespace, status.SecretName, contract.KindUser,
			map[string]string{contract.KeyUsername: status.Username, contract.KeyPassword: plaintext})
	}
	create(t, u)
	u.Status = status
	if err := env.Client.Status().Update(context.Background(), u); err != nil {
		t.Fatalf("user status: %v", err)
	}
	waitCached(t, u)
	return u
}

// holdFinalizer keeps an object marked for deletion in place.
const holdFinalizer = "storetest.tokenwarden.dev/hold"

func (f *fixture) PutResource(t *testing.T, obj *v1alpha1.OAuthResource) *v1alpha1.OAuthResource {
	t.Helper()
	r := obj.DeepCopy()
	status := r.Status
	create(t, r)
	r.Status = status
	if err := env.Client.Status().Update(context.Background(), r); err != nil {
		t.Fatalf("resource status: %v", err)
	}
	waitCached(t, r)
	return r
}

func (f *fixture) PutNamespaceLabels(t *testing.T, namespace string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Labels = labels
	if err := env.Client.Patch(context.Background(), ns, patch); err != nil {
		t.Fatalf("label namespace: %v", err)
	}
	waitCached(t, ns)
}

func (f *fixture) PutNamespaceAnnotations(t *testing.T, namespace string, annotations map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(ns), ns); err != nil {
		t.Fatalf("get namespace: %v", err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Annotations = annotations
	if err := env.Client.Patch(context.Background(), ns, patch); err != nil {
		t.Fatalf("annotate namespace: %v", err)
	}
	waitCached(t, ns)
}

func (f *fixture) MarkDeleting(t *testing.T, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	o := obj.DeepCopyObject().(client.Object)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
		t.Fatal(err)
	}
	controllerutil.AddFinalizer(o, holdFinalizer)
	if err := env.Client.Update(ctx, o); err != nil {
		t.Fatalf("add finalizer: %v", err)
	}
	if err := env.Client.Delete(ctx, o); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil || o.GetDeletionTimestamp() == nil {
		t.Fatalf("object after delete: %v, deletionTimestamp %v", err, o.GetDeletionTimestamp())
	}
	waitCached(t, o)
}

func (f *fixture) PutUnreadable(t *testing.T, kind storetest.Kind, namespace, id string) {
	t.Helper()
	prefix, key, label := kubestore.FamilySecretPrefix, kubestore.FamilyDataKey, contract.KindRefreshFamily
	switch kind {
	case storetest.CodeRecords:
		prefix, key, label = kubestore.CodeSecretPrefix, kubestore.CodeDataKey, contract.KindAuthorizationCode
	case storetest.ConsentRecords:
		prefix, key, label = kubestore.ConsentSecretPrefix, kubestore.ConsentDataKey, contract.KindConsent
	}
	labels := contract.ManagedLabels(label, "")
	labels[contract.LabelRecordNamespace] = namespace
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.operatorNS, Name: kubestore.RecordName(prefix, namespace, id), Labels: labels},
		Data:       map[string][]byte{key: []byte("{not json")},
	})
}

// Settle waits until the cache lists the records and the revocations
// exactly as the API server does. Every record is in the stores' own
// namespace, whatever tenant namespace it names.
func (f *fixture) Settle(t *testing.T, _ string) {
	t.Helper()
	for _, kind := range []string{contract.KindRefreshFamily, contract.KindAuthorizationCode, contract.KindConsent} {
		settle(t, &corev1.SecretList{}, f.operatorNS, kind)
	}
	settle(t, &corev1.ConfigMapList{}, f.operatorNS, contract.KindRevokedToken)
}

func settle(t *testing.T, list client.ObjectList, namespace, kind string) {
	t.Helper()
	ctx := context.Background()
	opts := []client.ListOption{client.InNamespace(namespace), client.MatchingLabels{contract.LabelKind: kind}}
	versions := func(r client.Reader) (map[string]string, error) {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := r.List(ctx, l, opts...); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, o := range listItems(l) {
			out[o.GetName()] = o.GetResourceVersion()
		}
		return out, nil
	}
	waitFor(t, "cache to settle", func() error {
		live, err := versions(mgr.GetAPIReader())
		if err != nil {
			return err
		}
		cached, err := versions(mgr.GetClient())
		if err != nil {
			return err
		}
		if !maps.Equal(live, cached) {
			return fmt.Errorf("cache %v, API server %v", cached, live)
		}
		return nil
	})
}

func listItems(l client.ObjectList) []client.Object {
	var out []client.Object
	switch l := l.(type) {
	case *corev1.SecretList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}

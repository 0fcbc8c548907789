package tenancy_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// secretShape is what an owner of a Secret would compare: every byte of its
// data, its type, labels, annotations, owners and finalizers.
type secretShape struct {
	Type        corev1.SecretType
	Data        map[string][]byte
	Labels      map[string]string
	Annotations map[string]string
	Owners      []metav1.OwnerReference
	Finalizers  []string
}

func shapeOf(s *corev1.Secret) secretShape {
	return secretShape{s.Type, s.Data, s.Labels, s.Annotations, s.OwnerReferences, s.Finalizers}
}

// currentShape reads the Secret with the admin client.
func currentShape(ns, name string) func() (secretShape, error) {
	return func() (secretShape, error) {
		var s corev1.Secret
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s)
		return shapeOf(&s), err
	}
}

// Attack 5: the attacker names an existing Secret of its namespace that it
// did not write and that carries no adoption consent (a database password)
// as the credential Secret of an OAuthClient and of an OAuthUser with a
// hash. The Secret stays byte for byte as it was, both objects report
// SecretConflict, and deleting them leaves the Secret.
func TestAttackAdoptUnownedSecret(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	db := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, Name: "db-password", Labels: map[string]string{"app": "db"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("hunter2-the-database-password"), "username": []byte("app")},
	}
	create(t, env.Client, db)
	want := shapeOf(db)

	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	oc := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, Name: "grabber"},
		Spec: v1alpha1.OAuthClientSpec{SecretName: db.Name, Scopes: []string{"db.admin"}}}
	ou := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: w.evil, Name: "grabber"},
		Spec: v1alpha1.OAuthUserSpec{SecretName: db.Name, Password: v1alpha1.PasswordSpec{Hash: string(hash)}}}
	for _, obj := range []client.Object{oc, ou} {
		create(t, w.attacker, obj)
		waitCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionFalse, "SecretConflict")
	}
	unchanged := func() {
		t.Helper()
		consistently(t, currentShape(w.evil, db.Name)).Should(gomega.Satisfy(func(got secretShape) bool {
			return equality.Semantic.DeepEqual(got, want)
		}), "Secret %s must stay as its writer left it", db.Name)
	}
	unchanged()

	for _, obj := range []client.Object{oc, ou} {
		if err := w.attacker.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		waitGone(t, obj)
	}
	// envtest runs no garbage collector: no owner reference on the Secret
	// is what guarantees the collector would leave it too.
	unchanged()
}

// The legitimate migration: a Secret whose writer consented with the
// adopt-by annotation naming the client is adopted, its client_secret kept,
// and a key Tokenwarden did not write is never removed.
func TestAdoptionWithConsent(t *testing.T) {
	w := newWorld(t)
	existing := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.teamA, Name: "billing-creds",
			Annotations: map[string]string{"tokenwarden.dev/adopt-by": "OAuthClient/billing"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"client_secret": []byte("migrated-secret-from-the-old-server-0123456789"), "note": []byte("keep me")},
	}
	create(t, env.Client, existing)
	id, secret := newClient(t, env.Client, w.teamA, "billing", v1alpha1.OAuthClientSpec{SecretName: existing.Name})
	if secret != "migrated-secret-from-the-old-server-0123456789" {
		t.Fatalf("adopted client_secret %q, want the migrated one", secret)
	}
	wantToken(t, clientCredentials(t, id, secret))
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(existing), &s); err != nil {
		t.Fatal(err)
	}
	if string(s.Data["note"]) != "keep me" {
		t.Fatalf("a key Tokenwarden did not write was changed: %q", s.Data["note"])
	}
}

package servertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// PutSecret records a Secret's data: a user's own password Secret, or a
// client's credential Secret that the client adopts (spec.secretName).
func (h *Harness) PutSecret(namespace, name string, data map[string]string) {
	h.secrets.Store(types.NamespacedName{Namespace: namespace, Name: name}, data)
}

// secretValue returns key of a Secret put with PutSecret.
func (h *Harness) secretValue(namespace, name, key string) (string, bool) {
	v, ok := h.secrets.Load(types.NamespacedName{Namespace: namespace, Name: name})
	if !ok {
		return "", false
	}
	s, ok := v.(map[string]string)[key]
	return s, ok
}

// Client registers an OAuthClient as the controller would leave it once
// Ready (client_id "<namespace>.<name>" unless spec.clientID names one; the
// client_secret of an adopted Secret put with PutSecret, else a generated
// one, unless public) and returns its client_id and secret.
func (h *Harness) Client(namespace, name string, spec v1alpha1.OAuthClientSpec) (id, secret string, obj *v1alpha1.OAuthClient) {
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Generation: 1, CreationTimestamp: metav1.Now()}, Spec: spec}
	if len(c.Spec.GrantTypes) == 0 {
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}
	}
	c.Status.ClientID = c.EffectiveClientID()
	c.Status.SecretName = c.EffectiveSecretName()
	setReady(&c.Status.Conditions, true, 1)
	if c.HasStaticSecret() {
		var adopted bool
		if secret, adopted = h.secretValue(namespace, c.Status.SecretName, contract.KeyClientSecret); !adopted {
			var err error
			if secret, err = credentials.RandomString(credentials.ClientSecretBytes); err != nil {
				panic(err)
			}
		}
	}
	obj = h.Mem.Directory.PutClient(c, secret, "", time.Time{})
	return c.Status.ClientID, secret, obj
}

// UpdateClient replaces a client's object, keeping its secrets; previous and
// previousExpiresAt set the overlap secret of a rotation when not empty.
func (h *Harness) UpdateClient(obj *v1alpha1.OAuthClient, secret, previous string, previousExpiresAt time.Time) *v1alpha1.OAuthClient {
	return h.Mem.Directory.PutClient(obj, secret, previous, previousExpiresAt)
}

// ChangeClient applies change to the stored client namespace/name (a spec
// edit: the generation goes up) and keeps its secrets.
func (h *Harness) ChangeClient(namespace, name string, change func(*v1alpha1.OAuthClient)) (*v1alpha1.OAuthClient, error) {
	c, err := h.Mem.Directory.ClientByName(context.Background(), namespace, name)
	if err != nil {
		return nil, fmt.Errorf("client %s/%s: %w", namespace, name, err)
	}
	change(c.Object)
	c.Object.Generation++
	setReady(&c.Object.Status.Conditions, true, c.Object.Generation)
	return h.Mem.Directory.PutClient(c.Object, c.Secret, c.PreviousSecret, c.PreviousExpiresAt), nil
}

// RotateClientSecret gives the client namespace/name a new secret, as the
// controller does on rotation: the old one becomes client_secret_previous,
// accepted until previousExpiresAt. It returns the new and the old secret.
func (h *Harness) RotateClientSecret(namespace, name string, previousExpiresAt time.Time) (secret, previous string, err error) {
	c, err := h.Mem.Directory.ClientByName(context.Background(), namespace, name)
	if err != nil {
		return "", "", fmt.Errorf("client %s/%s: %w", namespace, name, err)
	}
	if secret, err = credentials.RandomString(credentials.ClientSecretBytes); err != nil {
		return "", "", err
	}
	h.Mem.Directory.PutClient(c.Object, secret, c.Secret, previousExpiresAt)
	return secret, c.Secret, nil
}

// User registers an OAuthUser as the controller would leave it once Ready
// and returns it with its password when one was generated. A password
// Secret named by spec.password.secretRef must have been put with PutSecret.
func (h *Harness) User(namespace, name string, spec v1alpha1.OAuthUserSpec) (*v1alpha1.OAuthUser, string, error) {
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Generation: 1, CreationTimestamp: metav1.Now(), ResourceVersion: "1"}, Spec: spec}
	u.Status.Username = u.EffectiveUsername()
	u.Status.PasswordSource = u.PasswordSourceKind()
	u.Status.SecretName = u.EffectiveSecretName()
	u.Status.Disabled = spec.Disabled
	setReady(&u.Status.Conditions, !spec.Disabled, 1)
	var plaintext, generated string
	switch u.Status.PasswordSource {
	case v1alpha1.PasswordHash:
	case v1alpha1.PasswordFromSecret:
		ref := spec.Password.SecretRef
		key := ref.Key
		if key == "" {
			key = contract.KeyPassword
		}
		var ok bool
		if plaintext, ok = h.secretValue(namespace, ref.Name, key); !ok {
			return nil, "", fmt.Errorf("password Secret %s/%s with key %s was not put", namespace, ref.Name, key)
		}
	default:
		var err error
		if generated, err = credentials.RandomString(credentials.PasswordBytes); err != nil {
			return nil, "", err
		}
		plaintext = generated
	}
	return h.Mem.Directory.PutUser(u, plaintext, spec.Password.Hash), generated, nil
}

// SetUserDisabled sets spec.disabled of the stored user u and its status as
// the controller does, keeping its password. Unlike the controller it does
// not delete the user's refresh families, so a test sees the token server's
// own refusal.
func (h *Harness) SetUserDisabled(u *v1alpha1.OAuthUser, disabled bool) (*v1alpha1.OAuthUser, error) {
	cur, err := h.Mem.Directory.UserByUID(context.Background(), u.Namespace, u.UID)
	if err != nil {
		return nil, fmt.Errorf("user %s/%s: %w", u.Namespace, u.Name, err)
	}
	obj := cur.Object
	obj.Spec.Disabled, obj.Status.Disabled = disabled, disabled
	obj.Generation++
	setReady(&obj.Status.Conditions, !disabled, obj.Generation)
	return h.Mem.Directory.PutUser(obj, cur.Plaintext, cur.Hash), nil
}

// setReady sets the Ready condition as the controllers do.
func setReady(conds *[]metav1.Condition, ready bool, generation int64) {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: generation}
	if !ready {
		c.Status, c.Reason = metav1.ConditionFalse, "Disabled"
	}
	meta.SetStatusCondition(conds, c)
}

// Fixture puts clients, users and Secrets in one fresh namespace of the
// harness's directory, as the controllers would leave them once Ready.
type Fixture struct {
	T  testing.TB
	H  *Harness
	NS string
}

// NewFixture returns a fixture in a fresh namespace.
func (h *Harness) NewFixture(t testing.TB) *Fixture {
	return &Fixture{T: t, H: h, NS: h.Namespace()}
}

// Create records a Secret (a user's password Secret, or credentials a client
// adopts); the directory holds no other objects.
func (f *Fixture) Create(obj client.Object) {
	f.T.Helper()
	s, ok := obj.(*corev1.Secret)
	if !ok {
		f.T.Fatalf("create %T %s: only Secrets are created directly; use Client or User", obj, obj.GetName())
	}
	if s.Namespace == "" {
		s.Namespace = f.NS
	}
	data := map[string]string{}
	for k, v := range s.Data {
		data[k] = string(v)
	}
	for k, v := range s.StringData {
		data[k] = v
	}
	f.H.PutSecret(s.Namespace, s.Name, data)
}

// Client registers an OAuthClient and returns its client_id and secret.
func (f *Fixture) Client(name string, spec v1alpha1.OAuthClientSpec) (id, secret string) {
	f.T.Helper()
	id, secret, _ = f.H.Client(f.NS, name, spec)
	return id, secret
}

// User registers an OAuthUser and returns it with its generated password.
func (f *Fixture) User(name string, spec v1alpha1.OAuthUserSpec) (*v1alpha1.OAuthUser, string) {
	f.T.Helper()
	u, pw, err := f.H.User(f.NS, name, spec)
	if err != nil {
		f.T.Fatalf("user %s: %v", name, err)
	}
	return u, pw
}

// Resource registers an OAuthResource as its controller would leave it when
// it holds its audience.
func (h *Harness) Resource(namespace, name string, spec v1alpha1.OAuthResourceSpec) *v1alpha1.OAuthResource {
	r := &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Generation: 1, CreationTimestamp: metav1.Now()}, Spec: spec}
	r.Status.Audience = spec.Audience
	meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: 1})
	return h.Mem.Directory.PutResource(r)
}

// Resource registers an OAuthResource in the fixture's namespace.
func (f *Fixture) Resource(name string, spec v1alpha1.OAuthResourceSpec) *v1alpha1.OAuthResource {
	return f.H.Resource(f.NS, name, spec)
}

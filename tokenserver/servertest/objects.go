package servertest

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// PutSecret records a Secret's data (a user's own password Secret).
func (h *Harness) PutSecret(namespace, name string, data map[string]string) {
	h.secrets.Store(types.NamespacedName{Namespace: namespace, Name: name}, data)
}

// Client registers an OAuthClient as the controller would leave it once
// Ready (client_id "<namespace>.<name>" unless spec.clientID names one, a
// generated secret unless public) and returns its client_id and secret.
func (h *Harness) Client(namespace, name string, spec v1alpha1.OAuthClientSpec) (id, secret string, obj *v1alpha1.OAuthClient) {
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Generation: 1, CreationTimestamp: metav1.Now()}, Spec: spec}
	if len(c.Spec.GrantTypes) == 0 {
		c.Spec.GrantTypes = []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}
	}
	c.Status.ClientID = c.EffectiveClientID()
	c.Status.SecretName = name + "-oauth-client"
	if spec.SecretName != "" {
		c.Status.SecretName = spec.SecretName
	}
	meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: 1})
	if !spec.Public {
		var err error
		if secret, err = credentials.RandomString(credentials.ClientSecretBytes); err != nil {
			panic(err)
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

// User registers an OAuthUser as the controller would leave it once Ready
// and returns it with its password when one was generated. A password
// Secret named by spec.password.secretRef must have been put with PutSecret.
func (h *Harness) User(namespace, name string, spec v1alpha1.OAuthUserSpec) (*v1alpha1.OAuthUser, string, error) {
	u := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Generation: 1, CreationTimestamp: metav1.Now(), ResourceVersion: "1"}, Spec: spec}
	u.Status.Username = u.EffectiveUsername()
	u.Status.PasswordSource = u.PasswordSourceKind()
	u.Status.SecretName = name + "-oauth-user"
	meta.SetStatusCondition(&u.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: 1})
	var plaintext, generated string
	switch u.Status.PasswordSource {
	case v1alpha1.PasswordHash:
	case v1alpha1.PasswordFromSecret:
		ref := spec.Password.SecretRef
		v, ok := h.secrets.Load(types.NamespacedName{Namespace: namespace, Name: ref.Name})
		if !ok {
			return nil, "", fmt.Errorf("password Secret %s/%s was not put", namespace, ref.Name)
		}
		key := ref.Key
		if key == "" {
			key = contract.KeyPassword
		}
		plaintext = v.(map[string]string)[key]
	default:
		var err error
		if generated, err = credentials.RandomString(credentials.PasswordBytes); err != nil {
			return nil, "", err
		}
		plaintext = generated
	}
	return h.Mem.Directory.PutUser(u, plaintext, spec.Password.Hash), generated, nil
}

package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// errNotFound is what a lookup returns for anything that does not exist or
// cannot be used; callers turn it into the OAuth error of their endpoint.
var errNotFound = errors.New("not found")

// clientRecord is what the token server needs of an OAuthClient: the object
// (from the cache; never modified) and its current secrets.
type clientRecord struct {
	obj               *v1alpha1.OAuthClient
	secret            string
	previousSecret    string
	previousExpiresAt time.Time
}

// userRecord is what the token server needs of an OAuthUser to check a
// password: either a plaintext password (generated, or from the user's own
// Secret) or a hash.
type userRecord struct {
	obj       *v1alpha1.OAuthUser
	plaintext string
	hash      string
}

// Directory finds clients and users. The informer-backed implementation reads
// the manager's cache, so the token path makes no API call.
type Directory interface {
	ClientByID(ctx context.Context, id string) (*clientRecord, error)
	ClientByName(ctx context.Context, namespace, name string) (*clientRecord, error)
	User(ctx context.Context, namespace, username string) (*userRecord, error)
	UserByUID(ctx context.Context, namespace string, uid types.UID) (*userRecord, error)
}

// cacheDirectory is the Directory over the manager's informer cache, using
// the field indexes the controllers register.
type cacheDirectory struct {
	reader client.Reader
}

// ClientByID returns the Ready client holding id. Two objects holding the same
// id is a state the controllers resolve within a reconcile; until then
// neither is usable, so a clash can never let one client act as another.
func (d *cacheDirectory) ClientByID(ctx context.Context, id string) (*clientRecord, error) {
	if id == "" {
		return nil, errNotFound
	}
	var list v1alpha1.OAuthClientList
	if err := d.reader.List(ctx, &list, client.MatchingFields{contract.IndexClientID: id}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, errNotFound
	}
	return d.clientRecord(ctx, &list.Items[0])
}

// ClientByName returns the client namespace/name (per-client token URLs).
func (d *cacheDirectory) ClientByName(ctx context.Context, namespace, name string) (*clientRecord, error) {
	var c v1alpha1.OAuthClient
	if err := d.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("get client: %w", err)
	}
	if c.Status.ClientID == "" {
		return nil, errNotFound
	}
	return d.clientRecord(ctx, &c)
}

func (d *cacheDirectory) clientRecord(ctx context.Context, c *v1alpha1.OAuthClient) (*clientRecord, error) {
	if !c.DeletionTimestamp.IsZero() {
		return nil, errNotFound
	}
	rec := &clientRecord{obj: c}
	if c.Spec.Public {
		return rec, nil
	}
	s, err := d.secret(ctx, c.Namespace, c.Status.SecretName)
	if err != nil {
		return nil, err
	}
	rec.secret = string(s.Data[contract.KeyClientSecret])
	rec.previousSecret = string(s.Data[contract.KeyClientSecretPrevious])
	if t, err := time.Parse(time.RFC3339, string(s.Data[contract.KeyClientSecretPreviousExpireAt])); err == nil {
		rec.previousExpiresAt = t
	} else {
		rec.previousSecret = ""
	}
	return rec, nil
}

func (d *cacheDirectory) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if name == "" {
		return nil, errNotFound
	}
	var s corev1.Secret
	if err := d.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("get secret: %w", err)
	}
	return &s, nil
}

// User returns the user holding username in namespace, disabled or not (the
// caller decides what a disabled user may do).
func (d *cacheDirectory) User(ctx context.Context, namespace, username string) (*userRecord, error) {
	if username == "" {
		return nil, errNotFound
	}
	var list v1alpha1.OAuthUserList
	if err := d.reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{contract.IndexUsername: username}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, errNotFound
	}
	return d.userRecord(ctx, &list.Items[0])
}

// UserByUID finds a user by its UID (refresh tokens and codes are bound to
// the UID, so a user deleted and re-created under the same name is not the
// same user).
func (d *cacheDirectory) UserByUID(ctx context.Context, namespace string, uid types.UID) (*userRecord, error) {
	var list v1alpha1.OAuthUserList
	if err := d.reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{contract.IndexUserUID: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(list.Items) != 1 || list.Items[0].Status.Username == "" {
		return nil, errNotFound
	}
	return d.userRecord(ctx, &list.Items[0])
}

func (d *cacheDirectory) userRecord(ctx context.Context, u *v1alpha1.OAuthUser) (*userRecord, error) {
	if !u.DeletionTimestamp.IsZero() {
		return nil, errNotFound
	}
	rec := &userRecord{obj: u}
	switch u.PasswordSourceKind() {
	case v1alpha1.PasswordHash:
		rec.hash = u.Spec.Password.Hash
	case v1alpha1.PasswordFromSecret:
		ref := u.Spec.Password.SecretRef
		key := ref.Key
		if key == "" {
			key = contract.KeyPassword
		}
		s, err := d.secret(ctx, u.Namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		rec.plaintext = string(s.Data[key])
	default:
		s, err := d.secret(ctx, u.Namespace, u.Status.SecretName)
		if err != nil {
			return nil, err
		}
		rec.plaintext = string(s.Data[contract.KeyPassword])
	}
	return rec, nil
}

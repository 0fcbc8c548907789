package kubestore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// directory is the store.Directory over the manager's informer cache, using
// the field indexes of contract.SetupIndexes. Objects listed with
// UnsafeDisableDeepCopy are the cache's own: nothing here or in the token
// server modifies them.
type directory struct {
	reader client.Reader
	// marker is a Secret every replica caches (the migration marker);
	// lastRead the credential Secret read last. An unknown client's lookup
	// reads lastRead (else marker) as a known client's reads its own, so
	// that timing does not tell unknown client ids from known ones with a
	// wrong secret.
	marker   types.NamespacedName
	lastRead atomic.Pointer[types.NamespacedName]
}

// ClientByID returns the Ready client holding id. Two objects holding one id
// is a state the controllers resolve within a reconcile; until then neither
// is usable, so a clash can never let one client act as another.
func (d *directory) ClientByID(ctx context.Context, id string) (*store.Client, error) {
	if id == "" {
		return nil, store.ErrNotFound
	}
	var list v1alpha1.OAuthClientList
	if err := d.reader.List(ctx, &list, client.MatchingFields{contract.IndexClientID: id}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	if len(list.Items) != 1 {
		d.spendLikeAClient(ctx)
		return nil, store.ErrNotFound
	}
	return d.client(ctx, &list.Items[0])
}

// spendLikeAClient does the work of reading a client's credential Secret
// (d.client) on the decoy, whose answer is thrown away.
func (d *directory) spendLikeAClient(ctx context.Context) {
	decoy := d.lastRead.Load()
	if decoy == nil {
		decoy = &d.marker
	}
	s, err := d.secret(ctx, decoy.Namespace, decoy.Name)
	if err != nil {
		return
	}
	rec := &store.Client{Secret: string(s.Data[contract.KeyClientSecret])}
	if t, err := time.Parse(time.RFC3339, string(s.Data[contract.KeyClientSecretPreviousExpireAt])); err == nil {
		rec.PreviousExpiresAt = t
	}
	_ = rec
}

// ClientByName returns the client namespace/name (per-client token URLs)
// once it holds a client id.
func (d *directory) ClientByName(ctx context.Context, namespace, name string) (*store.Client, error) {
	var c v1alpha1.OAuthClient
	if err := d.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("get client: %w", err)
	}
	if c.Status.ClientID == "" {
		return nil, store.ErrNotFound
	}
	return d.client(ctx, &c)
}

// ClientsForServiceAccount lists the namespace's clients from the cache and
// keeps those that name the ServiceAccount. A namespace holds few clients,
// so no index is kept for this.
func (d *directory) ClientsForServiceAccount(ctx context.Context, namespace, name string) ([]*store.Client, error) {
	var list v1alpha1.OAuthClientList
	if err := d.reader.List(ctx, &list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	var found []*store.Client
	for i := range list.Items {
		c := &list.Items[i]
		if c.Status.ClientID == "" || !c.MayActAsServiceAccount(namespace, name) {
			continue
		}
		rec, err := d.client(ctx, c)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, rec)
	}
	return found, nil
}

// client reads the secrets of c from its credential Secret. A previous
// secret without a readable expiry is not accepted at all.
func (d *directory) client(ctx context.Context, c *v1alpha1.OAuthClient) (*store.Client, error) {
	if !c.DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	rec := &store.Client{Object: c}
	if c.Spec.Public {
		return rec, nil
	}
	jwks, err := d.clientJWKS(ctx, c)
	if err != nil {
		return nil, err
	}
	rec.JWKS = jwks
	s, err := d.secret(ctx, c.Namespace, c.Status.SecretName)
	if err != nil {
		return nil, err
	}
	if last := d.lastRead.Load(); last == nil || last.Namespace != c.Namespace || last.Name != c.Status.SecretName {
		d.lastRead.Store(&types.NamespacedName{Namespace: c.Namespace, Name: c.Status.SecretName})
	}
	rec.Secret = string(s.Data[contract.KeyClientSecret])
	if t, err := time.Parse(time.RFC3339, string(s.Data[contract.KeyClientSecretPreviousExpireAt])); err == nil {
		rec.PreviousSecret = string(s.Data[contract.KeyClientSecretPrevious])
		rec.PreviousExpiresAt = t
	}
	return rec, nil
}

// clientJWKS reads the client's private_key_jwt keys: inline, or from the
// cached Secret or ConfigMap it names (the client controller labels it so
// the cache holds it). A missing object or key is no keys, not an error.
func (d *directory) clientJWKS(ctx context.Context, c *v1alpha1.OAuthClient) ([]byte, error) {
	a := c.Spec.Authentication
	if a == nil || a.PrivateKeyJWT == nil {
		return nil, nil
	}
	p := a.PrivateKeyJWT
	switch {
	case p.JWKS != "":
		return []byte(p.JWKS), nil
	case p.SecretRef != nil:
		s, err := d.secret(ctx, c.Namespace, p.SecretRef.Name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return s.Data[jwksKey(p.SecretRef)], nil
	case p.ConfigMapRef != nil:
		var cm corev1.ConfigMap
		err := d.reader.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: p.ConfigMapRef.Name}, &cm)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get configmap: %w", err)
		}
		return []byte(cm.Data[jwksKey(p.ConfigMapRef)]), nil
	}
	return nil, nil
}

func jwksKey(r *v1alpha1.KeyReference) string {
	if r.Key == "" {
		return v1alpha1.DefaultJWKSKey
	}
	return r.Key
}

func (d *directory) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if name == "" {
		return nil, store.ErrNotFound
	}
	var s corev1.Secret
	if err := d.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("get secret: %w", err)
	}
	return &s, nil
}

// User returns the user holding username in namespace, disabled or not (the
// caller decides what a disabled user may do). Users of other namespaces are
// never found: a client signs in only its own namespace's users.
func (d *directory) User(ctx context.Context, namespace, username string) (*store.User, error) {
	if username == "" {
		return nil, store.ErrNotFound
	}
	var list v1alpha1.OAuthUserList
	if err := d.reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{contract.IndexUsername: username}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, store.ErrNotFound
	}
	return d.user(ctx, &list.Items[0])
}

// UserByUID finds a user of namespace by UID. Only a user holding a
// username (Ready) is found.
func (d *directory) UserByUID(ctx context.Context, namespace string, uid types.UID) (*store.User, error) {
	if uid == "" {
		return nil, store.ErrNotFound
	}
	var list v1alpha1.OAuthUserList
	if err := d.reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{contract.IndexUserUID: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(list.Items) != 1 || list.Items[0].Status.Username == "" {
		return nil, store.ErrNotFound
	}
	return d.user(ctx, &list.Items[0])
}

// user reads the password of u from where its spec says it is.
func (d *directory) user(ctx context.Context, u *v1alpha1.OAuthUser) (*store.User, error) {
	if !u.DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	rec := &store.User{Object: u}
	switch u.PasswordSourceKind() {
	case v1alpha1.PasswordHash:
		rec.Hash = u.Spec.Password.Hash
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
		rec.Plaintext = string(s.Data[key])
	default:
		s, err := d.secret(ctx, u.Namespace, u.Status.SecretName)
		if err != nil {
			return nil, err
		}
		rec.Plaintext = string(s.Data[contract.KeyPassword])
	}
	return rec, nil
}

// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthresources,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list;watch

// ResourceByAudience returns the one resource holding audience in its status
// for the audience its spec still asks for. Two holders is a state the
// controllers resolve; until then neither grants anything.
func (d *directory) ResourceByAudience(ctx context.Context, audience string) (*v1alpha1.OAuthResource, error) {
	if audience == "" {
		return nil, store.ErrNotFound
	}
	var list v1alpha1.OAuthResourceList
	if err := d.reader.List(ctx, &list, client.MatchingFields{contract.IndexResourceAudience: audience}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, store.ErrNotFound
	}
	r := &list.Items[0]
	if !r.HoldsAudience() || !r.DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	return r, nil
}

// NamespaceLabels reads the namespace from the cache. The first call starts
// the cache's Namespace informer; every later one makes no API call.
func (d *directory) NamespaceLabels(ctx context.Context, namespace string) (map[string]string, error) {
	ns, err := d.namespace(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return ns.Labels, nil
}

// NamespaceAnnotations reads the namespace from the cache, as
// NamespaceLabels does.
func (d *directory) NamespaceAnnotations(ctx context.Context, namespace string) (map[string]string, error) {
	ns, err := d.namespace(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return ns.Annotations, nil
}

// namespace returns the cached Namespace (shared with the cache: never
// modify it).
func (d *directory) namespace(ctx context.Context, namespace string) (*corev1.Namespace, error) {
	if namespace == "" {
		return nil, store.ErrNotFound
	}
	var ns corev1.Namespace
	if err := d.reader.Get(ctx, types.NamespacedName{Name: namespace}, &ns, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("get namespace: %w", err)
	}
	return &ns, nil
}

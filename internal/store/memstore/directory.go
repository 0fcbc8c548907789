package memstore

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Directory is an in-memory store.Directory that tests fill with PutClient,
// PutUser, PutResource, PutNamespaceLabels and PutNamespaceAnnotations. It
// answers as kubestore's does: status fields decide, objects
// being deleted are not found, users only within their namespace.
type Directory struct {
	mu         sync.RWMutex
	uids       int
	clients    map[types.NamespacedName]store.Client
	users      map[types.NamespacedName]store.User
	resources  map[types.NamespacedName]*v1alpha1.OAuthResource
	namespaces map[string]map[string]string
	nsNotes    map[string]map[string]string
}

// NewDirectory returns an empty Directory.
func NewDirectory() *Directory {
	return &Directory{
		clients: map[types.NamespacedName]store.Client{}, users: map[types.NamespacedName]store.User{},
		resources: map[types.NamespacedName]*v1alpha1.OAuthResource{}, namespaces: map[string]map[string]string{},
		nsNotes: map[string]map[string]string{},
	}
}

// PutClient stores a copy of obj (given a UID when it has none) with its
// secrets and returns the copy. As in the cluster, a public client has no
// secret, and the previous secret counts only with an expiry, kept to the
// second.
func (d *Directory) PutClient(obj *v1alpha1.OAuthClient, secret, previous string, previousExpiresAt time.Time) *v1alpha1.OAuthClient {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := store.Client{Object: obj.DeepCopy()}
	d.ensureUID(&c.Object.UID)
	if !obj.Spec.Public {
		c.Secret = secret
		if !previousExpiresAt.IsZero() {
			c.PreviousSecret, c.PreviousExpiresAt = previous, previousExpiresAt.UTC().Truncate(time.Second)
		}
		if a := obj.Spec.Authentication; a != nil && a.PrivateKeyJWT != nil {
			c.JWKS = []byte(a.PrivateKeyJWT.JWKS)
		}
	}
	d.clients[types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}] = c
	return c.Object.DeepCopy()
}

// PutUser stores a copy of obj (given a UID when it has none) with its
// password and returns the copy. A hash goes to spec.password.hash, as the
// cluster keeps it.
func (d *Directory) PutUser(obj *v1alpha1.OAuthUser, plaintext, hash string) *v1alpha1.OAuthUser {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := store.User{Object: obj.DeepCopy(), Plaintext: plaintext, Hash: hash}
	d.ensureUID(&u.Object.UID)
	if hash != "" {
		u.Object.Spec.Password.Hash = hash
		u.Plaintext = ""
	}
	d.users[types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}] = u
	return u.Object.DeepCopy()
}

func (d *Directory) ensureUID(uid *types.UID) {
	if *uid == "" {
		d.uids++
		*uid = types.UID(fmt.Sprintf("memstore-%d", d.uids))
	}
}

// DeleteClient removes the client namespace/name.
func (d *Directory) DeleteClient(namespace, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.clients, types.NamespacedName{Namespace: namespace, Name: name})
}

// DeleteUser removes the user namespace/name.
func (d *Directory) DeleteUser(namespace, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.users, types.NamespacedName{Namespace: namespace, Name: name})
}

// ClientByID returns the one client holding id in its status; two holding
// it is a clash, and neither is found.
func (d *Directory) ClientByID(_ context.Context, id string) (*store.Client, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var found []store.Client
	for _, c := range d.clients {
		if id != "" && c.Object.Status.ClientID == id {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		return nil, store.ErrNotFound
	}
	return clientCopy(found[0])
}

// ClientByName returns the client namespace/name once it holds a client id.
func (d *Directory) ClientByName(_ context.Context, namespace, name string) (*store.Client, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	c, ok := d.clients[types.NamespacedName{Namespace: namespace, Name: name}]
	if !ok || c.Object.Status.ClientID == "" {
		return nil, store.ErrNotFound
	}
	return clientCopy(c)
}

// ClientsForServiceAccount returns the clients of namespace holding an id
// that name the ServiceAccount.
func (d *Directory) ClientsForServiceAccount(_ context.Context, namespace, name string) ([]*store.Client, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var found []*store.Client
	for k, c := range d.clients {
		if k.Namespace != namespace || c.Object.Status.ClientID == "" || !c.Object.MayActAsServiceAccount(namespace, name) {
			continue
		}
		if cp, err := clientCopy(c); err == nil {
			found = append(found, cp)
		}
	}
	return found, nil
}

func clientCopy(c store.Client) (*store.Client, error) {
	if !c.Object.DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	c.Object = c.Object.DeepCopy()
	return &c, nil
}

// User returns the one user of namespace holding username in its status.
func (d *Directory) User(_ context.Context, namespace, username string) (*store.User, error) {
	return d.findUser(namespace, func(u *v1alpha1.OAuthUser) bool {
		return username != "" && u.Status.Username == username
	})
}

// UserByUID returns the user of namespace with uid, once it holds a
// username.
func (d *Directory) UserByUID(_ context.Context, namespace string, uid types.UID) (*store.User, error) {
	u, err := d.findUser(namespace, func(u *v1alpha1.OAuthUser) bool { return uid != "" && u.UID == uid })
	if err == nil && u.Object.Status.Username == "" {
		return nil, store.ErrNotFound
	}
	return u, err
}

func (d *Directory) findUser(namespace string, match func(*v1alpha1.OAuthUser) bool) (*store.User, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var found []store.User
	for k, u := range d.users {
		if k.Namespace == namespace && match(u.Object) {
			found = append(found, u)
		}
	}
	if len(found) != 1 || !found[0].Object.DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	u := found[0]
	u.Object = u.Object.DeepCopy()
	return &u, nil
}

// PutResource stores a copy of obj, status included (given a UID when it has
// none), and returns the copy.
func (d *Directory) PutResource(obj *v1alpha1.OAuthResource) *v1alpha1.OAuthResource {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := obj.DeepCopy()
	d.ensureUID(&r.UID)
	d.resources[types.NamespacedName{Namespace: r.Namespace, Name: r.Name}] = r
	return r.DeepCopy()
}

// DeleteResource removes the resource namespace/name.
func (d *Directory) DeleteResource(namespace, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.resources, types.NamespacedName{Namespace: namespace, Name: name})
}

// PutNamespaceLabels sets the labels of a namespace. Every namespace exists
// in memory: one never given labels has only the name label.
func (d *Directory) PutNamespaceLabels(namespace string, labels map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.namespaces[namespace] = maps.Clone(labels)
}

// ResourceByAudience returns the one resource holding audience for the
// audience its spec still asks for; two holding it is a clash, and neither
// is found.
func (d *Directory) ResourceByAudience(_ context.Context, audience string) (*v1alpha1.OAuthResource, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var found []*v1alpha1.OAuthResource
	for _, r := range d.resources {
		if audience != "" && r.Status.Audience == audience {
			found = append(found, r)
		}
	}
	if len(found) != 1 || !found[0].HoldsAudience() || !found[0].DeletionTimestamp.IsZero() {
		return nil, store.ErrNotFound
	}
	return found[0].DeepCopy(), nil
}

// NamespaceLabels returns a copy of the labels put for namespace, with the
// label the API server sets on every namespace (kubernetes.io/metadata.name,
// which a selector may match to pick one namespace by name).
func (d *Directory) NamespaceLabels(_ context.Context, namespace string) (map[string]string, error) {
	if namespace == "" {
		return nil, store.ErrNotFound
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	l := maps.Clone(d.namespaces[namespace])
	if l == nil {
		l = map[string]string{}
	}
	l[corev1.LabelMetadataName] = namespace
	return l, nil
}

// PutNamespaceAnnotations sets the annotations of a namespace.
func (d *Directory) PutNamespaceAnnotations(namespace string, annotations map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nsNotes[namespace] = maps.Clone(annotations)
}

// NamespaceAnnotations returns a copy of the annotations put for namespace;
// every namespace exists in memory, one never given any has none.
func (d *Directory) NamespaceAnnotations(_ context.Context, namespace string) (map[string]string, error) {
	if namespace == "" {
		return nil, store.ErrNotFound
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return maps.Clone(d.nsNotes[namespace]), nil
}

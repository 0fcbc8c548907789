package operator

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// cacheScopes are the namespaces the cache holds, per kind; a kind not
// listed is cached in every namespace (only labelled Secrets and
// ConfigMaps: the operator's own, and a client's JWK Set it references for
// private_key_jwt, which the client controller labels). With
// WatchNamespaces, the custom resources are cached in those namespaces, and
// Secrets and ConfigMaps there and in the operator's namespace (keys,
// the JWKS and server state).
func (o *Options) cacheScopes() map[string]sets.Set[string] {
	scopes := map[string]sets.Set[string]{}
	if len(o.WatchNamespaces) == 0 {
		return scopes
	}
	tenants := sets.New(o.WatchNamespaces...)
	for _, kind := range []string{"OAuthClient", "OAuthUser", "OAuthResource"} {
		scopes[kind] = tenants
	}
	scopes["Secret"] = tenants.Clone().Insert(o.Namespace)
	scopes["ConfigMap"] = scopes["Secret"]
	return scopes
}

// cacheOptions are the manager's cache options: managed Secrets and
// ConfigMaps only, each kind in its scopes, and every object stripped by
// contract.StripForCache (no managed fields; the token server's record
// Secrets without their data, so memory does not grow with every session).
func (o *Options) cacheOptions() cache.Options {
	scopes := o.cacheScopes()
	in := func(kind string, sel labels.Selector) cache.ByObject {
		by := cache.ByObject{Label: sel}
		if nss, ok := scopes[kind]; ok {
			by.Namespaces = map[string]cache.Config{}
			for ns := range nss {
				by.Namespaces[ns] = cache.Config{}
			}
		}
		return by
	}
	byObject := map[client.Object]cache.ByObject{
		&corev1.Secret{}:    in("Secret", contract.ManagedSelector()),
		&corev1.ConfigMap{}: in("ConfigMap", contract.ManagedSelector()),
	}
	if len(o.WatchNamespaces) > 0 {
		byObject[&v1alpha1.OAuthClient{}] = in("OAuthClient", nil)
		byObject[&v1alpha1.OAuthUser{}] = in("OAuthUser", nil)
		byObject[&v1alpha1.OAuthResource{}] = in("OAuthResource", nil)
	}
	return cache.Options{ByObject: byObject, DefaultTransform: contract.StripForCache}
}

// newScopedCache builds the manager's cache wrapped by scopedCache.
func (o *Options) newScopedCache(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
	c, err := cache.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	return &scopedCache{Cache: c, scheme: opts.Scheme, scopes: o.cacheScopes()}, nil
}

// scopedCache answers a read in a namespace its kind is not cached in the
// way the API server answers about a namespace without such objects:
// NotFound, an empty list. controller-runtime's cache returns an error
// instead, which the token server would turn into server_error and a
// controller into endless retries, and a namespace outside
// --watch-namespaces must simply not exist for the manager.
type scopedCache struct {
	cache.Cache
	scheme *runtime.Scheme
	scopes map[string]sets.Set[string]
}

// outside reports whether obj's kind is not cached in namespace.
func (c *scopedCache) outside(obj runtime.Object, namespace string) bool {
	if namespace == "" {
		return false
	}
	gvk, err := apiutil.GVKForObject(obj, c.scheme)
	if err != nil {
		return false
	}
	nss, ok := c.scopes[strings.TrimSuffix(gvk.Kind, "List")]
	return ok && !nss.Has(namespace)
}

// Get implements client.Reader.
func (c *scopedCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if c.outside(obj, key.Namespace) {
		gvk, _ := apiutil.GVKForObject(obj, c.scheme)
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		return apierrors.NewNotFound(plural.GroupResource(), key.Name)
	}
	return c.Cache.Get(ctx, key, obj, opts...)
}

// List implements client.Reader.
func (c *scopedCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if c.outside(list, lo.Namespace) {
		return meta.SetList(list, nil)
	}
	return c.Cache.List(ctx, list, opts...)
}

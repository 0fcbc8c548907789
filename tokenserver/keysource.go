package tokenserver

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// InformerKeys is the KeySource of a running server: it follows the signing
// key Secret through the manager's informer and rebuilds the key set (signers
// and JWKS bytes) once per change, never per request. A rotation reaches
// every replica without a restart.
type InformerKeys struct {
	namespace string
	log       logr.Logger
	current   atomic.Pointer[keys.Set]
}

// NewInformerKeys registers an event handler on the Secret informer.
func NewInformerKeys(ctx context.Context, c cache.Cache, namespace string, log logr.Logger) (*InformerKeys, error) {
	k := &InformerKeys{namespace: namespace, log: log}
	inf, err := c.GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return nil, fmt.Errorf("secret informer: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    k.update,
		UpdateFunc: func(_, obj any) { k.update(obj) },
		// A deleted Secret is re-created by the controller; until then the
		// last keys keep serving rather than failing every request.
	})
	if err != nil {
		return nil, fmt.Errorf("watch signing keys: %w", err)
	}
	return k, nil
}

func (k *InformerKeys) update(obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Namespace != k.namespace || s.Name != keys.SecretName {
		return
	}
	ks, err := keys.Decode(s.Data[keys.SecretDataKey])
	if err == nil {
		var set *keys.Set
		if set, err = keys.NewSet(ks); err == nil {
			k.current.Store(set)
			return
		}
	}
	k.log.Error(err, "signing keys unusable; still serving the previous ones")
}

// Current returns the latest key set, or nil before the first one arrived.
func (k *InformerKeys) Current() *keys.Set { return k.current.Load() }

package tokenwardentest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// RotateSigningKeys rotates the signing keys as an operator would with the
// tokenwarden.dev/rotate annotation, and returns once the token server serves
// the new key set: every active key is new, and the served JWKS names exactly
// the stored keys. A requested rotation keeps the old keys published
// (retired), so tokens they signed still verify; compromised removes the
// active keys at once. A requested rotation only happens once the next key
// has been published for the operator's publish-ahead (2 h); in a real
// cluster it has been, for the whole rotation period, so the harness
// backdates the next keys' creation by that much rather than wait.
func (tw *Tokenwarden) RotateSigningKeys(ctx context.Context, compromised bool) error {
	value := "now"
	if compromised {
		value = keys.RotateCompromised
	}
	before, err := tw.requestRotation(ctx, value)
	if err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: tw.Namespace, Name: keys.SecretName}
	err = tw.poll(ctx, func(ctx context.Context) (bool, error) {
		var s corev1.Secret
		if err := tw.Client.Get(ctx, key, &s); err != nil {
			return false, nil
		}
		active, all, err := storedKeys(&s)
		if err != nil || slices.ContainsFunc(active, func(k string) bool { return slices.Contains(before, k) }) {
			return false, err
		}
		served, err := servedKids(ctx, tw.IssuerURL)
		return err == nil && slices.Equal(served, all), nil
	})
	if err != nil {
		return fmt.Errorf("key rotation (%s) did not reach the token server: %w", value, err)
	}
	return nil
}

// requestRotation annotates the signing-key Secret (and, for a requested
// rotation, backdates the next keys) with an optimistic lock, since the
// controller writes the Secret with compare-and-swap too. It returns the
// active kids before.
func (tw *Tokenwarden) requestRotation(ctx context.Context, value string) ([]string, error) {
	key := types.NamespacedName{Namespace: tw.Namespace, Name: keys.SecretName}
	var before []string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var s corev1.Secret
		if err := tw.Client.Get(ctx, key, &s); err != nil {
			return err
		}
		orig := s.DeepCopy()
		ks, err := keys.Decode(s.Data[keys.SecretDataKey])
		if err != nil {
			return err
		}
		before, _, _ = storedKeys(&s)
		if value != keys.RotateCompromised {
			published := time.Now().Add(-tw.publishAhead - time.Minute).UTC().Truncate(time.Second)
			for i := range ks {
				if ks[i].State == keys.StateNext && ks[i].CreatedAt.After(published) {
					ks[i].CreatedAt = published
				}
			}
			if s.Data[keys.SecretDataKey], err = keys.Encode(ks); err != nil {
				return err
			}
		}
		metav1.SetMetaDataAnnotation(&s.ObjectMeta, keys.AnnotationRotate, value)
		return tw.Client.Patch(ctx, &s, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return nil, fmt.Errorf("request key rotation: %w", err)
	}
	return before, nil
}

// storedKeys returns the active and all kids of the signing-key Secret,
// sorted.
func storedKeys(s *corev1.Secret) (active, all []string, err error) {
	ks, err := keys.Decode(s.Data[keys.SecretDataKey])
	if err != nil {
		return nil, nil, err
	}
	for _, k := range ks {
		all = append(all, k.ID)
		if k.State == keys.StateActive {
			active = append(active, k.ID)
		}
	}
	slices.Sort(active)
	slices.Sort(all)
	return active, all, nil
}

// servedKids returns the kids of the JWKS the token server serves, sorted.
func servedKids(ctx context.Context, issuer string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/jwks.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	kids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids, nil
}

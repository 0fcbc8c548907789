package tokenwardentest

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// ClientCredentials are what an OAuthClient's credential Secret holds.
type ClientCredentials struct {
	ClientID, ClientSecret    string
	Issuer, TokenURL, JWKSURL string
	Scopes                    []string
	// Secret is the credential Secret; its Data are the files of a pod's
	// mount of it (see workloadtest.WriteMount).
	Secret *corev1.Secret
}

// UserCredentials are what an OAuthUser's Secret holds. Password is empty
// unless Tokenwarden generated it.
type UserCredentials struct {
	Username, Password string
	Secret             *corev1.Secret
}

// CreateNamespace creates a namespace with a generated name, for one test.
func (tw *Tokenwarden) CreateNamespace(ctx context.Context) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tw-"}}
	if err := tw.Client.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	return ns.Name, nil
}

// CreateClient creates c (its namespace must be set), waits until it is
// Ready and the token server knows its credentials, and returns them.
func (tw *Tokenwarden) CreateClient(ctx context.Context, c *v1alpha1.OAuthClient) (*ClientCredentials, error) {
	if err := tw.Client.Create(ctx, c); err != nil {
		return nil, fmt.Errorf("create oauthclient %s/%s: %w", c.Namespace, c.Name, err)
	}
	return tw.ClientCredentials(ctx, client.ObjectKeyFromObject(c))
}

// ClientCredentials waits until the OAuthClient key is Ready and its
// credential Secret, as the token server's cache holds it, agrees with the
// API server; then it returns the credentials.
func (tw *Tokenwarden) ClientCredentials(ctx context.Context, key types.NamespacedName) (*ClientCredentials, error) {
	c := &v1alpha1.OAuthClient{}
	if err := tw.waitReady(ctx, key, c, func() []metav1.Condition { return c.Status.Conditions }); err != nil {
		return nil, err
	}
	s, err := tw.cachedSecret(ctx, key.Namespace, c.Status.SecretName, contract.KeyClientSecret)
	if err != nil {
		return nil, err
	}
	// The token server finds a client by the id in its cached status.
	err = tw.poll(ctx, func(ctx context.Context) (bool, error) {
		var cached v1alpha1.OAuthClient
		err := tw.mgr.GetClient().Get(ctx, key, &cached)
		return err == nil && cached.Status.ClientID == c.Status.ClientID, nil
	})
	if err != nil {
		return nil, fmt.Errorf("oauthclient %s: the token server's cache did not catch up: %w", key, err)
	}
	d := s.Data
	return &ClientCredentials{
		ClientID: string(d[contract.KeyClientID]), ClientSecret: string(d[contract.KeyClientSecret]),
		Issuer: string(d[contract.KeyIssuer]), TokenURL: string(d[contract.KeyTokenURL]), JWKSURL: string(d[contract.KeyJWKSURL]),
		Scopes: strings.Fields(string(d[contract.KeyScope])), Secret: s,
	}, nil
}

// CreateUser creates u (its namespace must be set), waits until it is Ready
// and known to the token server, and returns its credentials.
func (tw *Tokenwarden) CreateUser(ctx context.Context, u *v1alpha1.OAuthUser) (*UserCredentials, error) {
	if err := tw.Client.Create(ctx, u); err != nil {
		return nil, fmt.Errorf("create oauthuser %s/%s: %w", u.Namespace, u.Name, err)
	}
	key := client.ObjectKeyFromObject(u)
	if err := tw.waitReady(ctx, key, u, func() []metav1.Condition { return u.Status.Conditions }); err != nil {
		return nil, err
	}
	s, err := tw.cachedSecret(ctx, key.Namespace, u.Status.SecretName, contract.KeyUsername)
	if err != nil {
		return nil, err
	}
	err = tw.poll(ctx, func(ctx context.Context) (bool, error) {
		var cached v1alpha1.OAuthUser
		err := tw.mgr.GetClient().Get(ctx, key, &cached)
		return err == nil && cached.Status.Username == u.Status.Username, nil
	})
	if err != nil {
		return nil, fmt.Errorf("oauthuser %s: the token server's cache did not catch up: %w", key, err)
	}
	return &UserCredentials{Username: u.Status.Username, Password: string(s.Data[contract.KeyPassword]), Secret: s}, nil
}

// waitReady polls obj until its Ready condition is True; on timeout the
// error carries the last reason and message.
func (tw *Tokenwarden) waitReady(ctx context.Context, key types.NamespacedName, obj client.Object, conds func() []metav1.Condition) error {
	var last *metav1.Condition
	err := tw.poll(ctx, func(ctx context.Context) (bool, error) {
		if err := tw.Client.Get(ctx, key, obj); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		last = meta.FindStatusCondition(conds(), v1alpha1.ConditionReady)
		return last != nil && last.Status == metav1.ConditionTrue && last.ObservedGeneration == obj.GetGeneration(), nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("%s is %w: %s: %s", key, errNotReady, last.Reason, last.Message)
		}
		return fmt.Errorf("%s is %w: %w", key, errNotReady, err)
	}
	return nil
}

// cachedSecret returns the Secret from the API server once the operator's
// cache holds the same version of it, so that what the test reads is what
// the token server checks. want is a key that must be present.
func (tw *Tokenwarden) cachedSecret(ctx context.Context, ns, name, want string) (*corev1.Secret, error) {
	live := &corev1.Secret{}
	key := types.NamespacedName{Namespace: ns, Name: name}
	err := tw.poll(ctx, func(ctx context.Context) (bool, error) {
		var cached corev1.Secret
		if err := tw.Client.Get(ctx, key, live); err != nil || len(live.Data[want]) == 0 {
			return false, client.IgnoreNotFound(err)
		}
		if err := tw.mgr.GetClient().Get(ctx, key, &cached); err != nil {
			return false, nil
		}
		return cached.ResourceVersion == live.ResourceVersion, nil
	})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", key, err)
	}
	return live, nil
}

// RotateClientSecret rotates the secret of an OAuthClient that has
// spec.secretRotation now, as if its interval had passed, and returns the
// new credentials once the token server accepts them. During the overlap the
// old secret keeps working; with overlap 0 it stops at once.
func (tw *Tokenwarden) RotateClientSecret(ctx context.Context, key types.NamespacedName) (*ClientCredentials, error) {
	before, err := tw.ClientCredentials(ctx, key)
	if err != nil {
		return nil, err
	}
	longAgo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, contract.AnnotationSecretRotatedAt, longAgo)
	if err := tw.Client.Patch(ctx, before.Secret, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return nil, fmt.Errorf("request rotation of %s: %w", key, err)
	}
	var after *ClientCredentials
	err = tw.poll(ctx, func(ctx context.Context) (bool, error) {
		var err error
		after, err = tw.ClientCredentials(ctx, key)
		return err == nil && after.ClientSecret != before.ClientSecret, nil
	})
	if err != nil {
		return nil, fmt.Errorf("oauthclient %s: the secret was not rotated: %w", key, err)
	}
	return after, nil
}

// CreateResource creates r, an API's OAuthResource (its namespace must be
// set), and waits until it holds its audience and the token server knows it:
// from then on clients it grants get tokens for the audience.
func (tw *Tokenwarden) CreateResource(ctx context.Context, r *v1alpha1.OAuthResource) error {
	if err := tw.Client.Create(ctx, r); err != nil {
		return fmt.Errorf("create oauthresource %s/%s: %w", r.Namespace, r.Name, err)
	}
	key := client.ObjectKeyFromObject(r)
	if err := tw.waitReady(ctx, key, r, func() []metav1.Condition { return r.Status.Conditions }); err != nil {
		return err
	}
	err := tw.poll(ctx, func(ctx context.Context) (bool, error) {
		var cached v1alpha1.OAuthResource
		err := tw.mgr.GetClient().Get(ctx, key, &cached)
		return err == nil && cached.HoldsAudience(), nil
	})
	if err != nil {
		return fmt.Errorf("oauthresource %s: the token server's cache did not catch up: %w", key, err)
	}
	return nil
}

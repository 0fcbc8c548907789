package rbac_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// TestNamespacedInstallRBAC runs the namespace-scoped install
// (config/overlays/namespaced: --watch-namespaces=team-a,team-b, rights in
// those namespaces and the operator's only) as its ServiceAccount with
// exactly its rendered RBAC, serves both namespaces, and checks that a
// third namespace is invisible: its objects are never reconciled, an
// OAuthResource there grants nothing, the token server's cache has none of
// them, and the manager never sends a request about it.
func TestNamespacedInstallRBAC(t *testing.T) {
	const opNS = "tw-rbac-namespaced"
	createNamespace(t, opNS)
	m := render(t, "overlays/namespaced")
	sa, args := containerArgs(t, m, "tokenwarden-controller-manager")
	served, ok := argValue(args, "watch-namespaces")
	if !ok || served != "team-a,team-b" {
		t.Fatalf("rendered --watch-namespaces=%q, want team-a,team-b (the example overlay)", served)
	}
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		createNamespace(t, ns)
	}
	install(t, m, opNS)
	cfg, rec := serviceAccountConfig(t, opNS, sa)
	base, mgr := startManager(t, cfg, opNS, args)
	waitServing(t, base)

	outsider := plantOutsider(t)
	a := setUpTenant(t, "team-a", mgr.GetClient())
	b := setUpTenant(t, "team-b", mgr.GetClient())
	useTokenServer(t, base, a)
	useTokenServer(t, base, b)
	rotateKeys(t, base, opNS)
	disableUser(t, base, a)
	checkInvisible(t, mgr.GetClient(), rec, outsider, a)

	checkRules(t, "config/overlays/namespaced", rec, grantsOf(m, sa, opNS))
}

// outsider is what the admin put into team-c, outside the served
// namespaces: a client, and a resource granting its audience to every
// client of team-a.
type outsider struct {
	client   *v1alpha1.OAuthClient
	resource *v1alpha1.OAuthResource
}

func plantOutsider(t *testing.T) outsider {
	t.Helper()
	o := outsider{
		client: &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "app"},
			Spec: v1alpha1.OAuthClientSpec{GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials}}},
		resource: &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "api"},
			Spec: v1alpha1.OAuthResourceSpec{Audience: "https://api.team-c.example", Scopes: []string{"read"},
				Grants: []v1alpha1.ResourceGrant{{Clients: []v1alpha1.ClientReference{{Namespace: "team-a", Name: "app"}}, Scopes: []string{"read"}}}}},
	}
	for _, obj := range []client.Object{o.client, o.resource} {
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("create %T in team-c: %v", obj, err)
		}
	}
	return o
}

// checkInvisible: team-c's objects got no status and no Secret, team-a's
// client asking for team-c's audience is not granted it, the token
// server's cache answers NotFound for them, and no request of the manager
// named team-c (nor did the API server refuse one).
func checkInvisible(t *testing.T, cache client.Reader, rec *recorder, o outsider, a *tenant) {
	t.Helper()
	ctx := context.Background()
	// team-a's client now asks for team-c's audience too.
	var c v1alpha1.OAuthClient
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a.client), &c); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(c.DeepCopy())
	c.Spec.Audiences = append(c.Spec.Audiences, o.resource.Spec.Audience)
	if err := env.Client.Patch(ctx, &c, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a.client), &c); err != nil {
			return err
		}
		for _, st := range c.Status.Audiences {
			if st.Audience == o.resource.Spec.Audience {
				return nil
			}
		}
		return fmt.Errorf("status.audiences %+v does not judge %s yet", c.Status.Audiences, o.resource.Spec.Audience)
	}).Should(gomega.Succeed(), "team-a's client's status judges the audience of team-c")
	gomega.NewWithT(t).Consistently(func() error {
		var got v1alpha1.OAuthClient
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o.client), &got); err != nil {
			return err
		}
		if len(got.Status.Conditions) > 0 || got.Status.ClientID != "" {
			return fmt.Errorf("the client in team-c was reconciled: %+v", got.Status)
		}
		var res v1alpha1.OAuthResource
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o.resource), &res); err != nil {
			return err
		}
		if len(res.Status.Conditions) > 0 || res.Status.Audience != "" {
			return fmt.Errorf("the resource in team-c was reconciled: %+v", res.Status)
		}
		var secrets corev1.SecretList
		if err := env.Client.List(ctx, &secrets, client.InNamespace("team-c")); err != nil {
			return err
		}
		if len(secrets.Items) > 0 {
			return fmt.Errorf("Secret %s written in team-c", secrets.Items[0].Name)
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a.client), &c); err != nil {
			return err
		}
		for _, st := range c.Status.Audiences {
			if st.Audience == o.resource.Spec.Audience && st.Granted {
				return fmt.Errorf("team-c's resource granted its audience to team-a's client")
			}
		}
		return nil
	}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
	for _, obj := range []client.Object{&v1alpha1.OAuthClient{}, &v1alpha1.OAuthResource{}} {
		if err := cache.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: o.client.Name}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("the manager's cache reads %T team-c/%s: %v, want NotFound", obj, o.client.Name, err)
		}
	}
	for _, call := range rec.calls() {
		if strings.HasSuffix(call, `in "team-c"`) {
			t.Errorf("the manager sent a request about team-c: %s", call)
		}
	}
}

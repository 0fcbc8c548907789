package grants

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

const aud = "https://payments.teamb.example"

// payments is teamb's resource holding aud, defining three scopes, with the
// given grants.
func payments(mutate func(*v1alpha1.OAuthResource), grants ...v1alpha1.ResourceGrant) *v1alpha1.OAuthResource {
	r := &v1alpha1.OAuthResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "teamb", Name: "payments"},
		Spec: v1alpha1.OAuthResourceSpec{
			Audience: aud,
			Scopes:   []string{"payments.read", "payments.write", "payments.admin"},
			Grants:   grants,
		},
		Status: v1alpha1.OAuthResourceStatus{Audience: aud},
	}
	if mutate != nil {
		mutate(r)
	}
	return r
}

func byName(ns, name string, scopes ...string) v1alpha1.ResourceGrant {
	return v1alpha1.ResourceGrant{Clients: []v1alpha1.ClientReference{{Namespace: ns, Name: name}}, Scopes: scopes}
}

func bySelector(sel *metav1.LabelSelector, scopes ...string) v1alpha1.ResourceGrant {
	return v1alpha1.ResourceGrant{NamespaceSelector: sel, Scopes: scopes}
}

func matchLabels(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func TestDecide(t *testing.T) {
	off := false
	now := metav1.Now()
	tests := []struct {
		name string
		// client namespace/name and its namespace's labels
		ns, client string
		labels     map[string]string
		resource   *v1alpha1.OAuthResource
		audience   string // default aud
		scopes     []string
		want       Decision
	}{
		{
			name: "same namespace gets every scope by default", ns: "teamb", client: "checkout",
			resource: payments(nil), scopes: nil,
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.admin", "payments.read", "payments.write"},
				Scopes:  []string{"payments.admin", "payments.read", "payments.write"}},
		},
		{
			name: "same namespace, requested scopes kept in request order", ns: "teamb", client: "checkout",
			resource: payments(nil), scopes: []string{"payments.write", "openid", "payments.read"},
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.admin", "payments.read", "payments.write"},
				Scopes:  []string{"payments.write", "payments.read"}},
		},
		{
			name: "same namespace refused when allowSameNamespace is false", ns: "teamb", client: "checkout",
			resource: payments(func(r *v1alpha1.OAuthResource) { r.Spec.AllowSameNamespace = &off }),
			scopes:   []string{"payments.read"},
			want:     Decision{Reason: ReasonNotGranted, Resource: "teamb/payments", Denied: []string{"payments.read"}},
		},
		{
			name: "same namespace without allowSameNamespace still gets a grant naming it", ns: "teamb", client: "checkout",
			resource: payments(func(r *v1alpha1.OAuthResource) { r.Spec.AllowSameNamespace = &off },
				byName("teamb", "checkout", "payments.read")),
			want: Decision{Granted: true, Resource: "teamb/payments", Allowed: []string{"payments.read"}, Scopes: []string{"payments.read"}},
		},
		{
			name: "another namespace granted by name", ns: "teama", client: "billing",
			resource: payments(nil, byName("teama", "billing", "payments.read")),
			scopes:   []string{"payments.read"},
			want:     Decision{Granted: true, Resource: "teamb/payments", Allowed: []string{"payments.read"}, Scopes: []string{"payments.read"}},
		},
		{
			name: "attack: a grant naming another client of the namespace grants nothing", ns: "teama", client: "billing",
			resource: payments(nil, byName("teama", "reporting", "payments.read")),
			scopes:   []string{"payments.read"},
			want:     Decision{Reason: ReasonNotGranted, Resource: "teamb/payments", Denied: []string{"payments.read"}},
		},
		{
			name: "another namespace granted by namespace selector", ns: "teama", client: "billing",
			labels:   map[string]string{"team": "a", "tier": "prod"},
			resource: payments(nil, bySelector(matchLabels("tier", "prod"), "payments.read", "payments.write")),
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.read", "payments.write"}, Scopes: []string{"payments.read", "payments.write"}},
		},
		{
			name: "an empty selector selects every namespace", ns: "teama", client: "billing",
			resource: payments(nil, bySelector(&metav1.LabelSelector{}, "payments.read")),
			want:     Decision{Granted: true, Resource: "teamb/payments", Allowed: []string{"payments.read"}, Scopes: []string{"payments.read"}},
		},
		{
			name: "several grants give the union of their scopes", ns: "teama", client: "billing",
			labels: map[string]string{"tier": "prod"},
			resource: payments(nil, byName("teama", "billing", "payments.read"),
				bySelector(matchLabels("tier", "prod"), "payments.write", "payments.read")),
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.read", "payments.write"}, Scopes: []string{"payments.read", "payments.write"}},
		},
		{
			name: "a grant gives no scope outside spec.scopes", ns: "teamb", client: "checkout",
			resource: payments(nil, byName("teamb", "checkout", "undefined.scope")),
			scopes:   []string{"undefined.scope", "payments.read"},
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.admin", "payments.read", "payments.write"}, Scopes: []string{"payments.read"}},
		},
		{
			name: "resource being deleted grants nothing", ns: "teamb", client: "checkout",
			resource: payments(func(r *v1alpha1.OAuthResource) { r.DeletionTimestamp = &now }),
			want:     Decision{Reason: ReasonNoSuchResource},
		},
		{
			name: "no resource holds the audience", ns: "teama", client: "billing",
			resource: nil, scopes: []string{"payments.read"},
			want: Decision{Reason: ReasonNoSuchResource},
		},

		// Attacks of the tenant-isolation issue.
		{
			name: "attack: another namespace's client with no grant", ns: "evil", client: "payments",
			resource: payments(nil, byName("teama", "billing", "payments.read")),
			scopes:   []string{"payments.admin"},
			want:     Decision{Reason: ReasonNotGranted, Resource: "teamb/payments", Denied: []string{"payments.admin"}},
		},
		{
			name: "attack: a client of the same name in another namespace", ns: "evil", client: "billing",
			resource: payments(nil, byName("teama", "billing", "payments.read")),
			want:     Decision{Reason: ReasonNotGranted, Resource: "teamb/payments"},
		},
		{
			name: "attack: a selector that does not match", ns: "evil", client: "billing",
			labels:   map[string]string{"tier": "dev"},
			resource: payments(nil, bySelector(matchLabels("tier", "prod"), "payments.read")),
			want:     Decision{Reason: ReasonNotGranted, Resource: "teamb/payments"},
		},
		{
			name: "attack: a selector that does not parse matches nothing", ns: "evil", client: "billing",
			labels: map[string]string{"tier": "prod"},
			resource: payments(nil, bySelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: "Bogus"}}}, "payments.read")),
			want: Decision{Reason: ReasonNotGranted, Resource: "teamb/payments"},
		},
		{
			name: "attack: granted scope A, asking for scope B", ns: "teama", client: "billing",
			resource: payments(nil, byName("teama", "billing", "payments.read")),
			scopes:   []string{"payments.admin", "payments.read"},
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.read"}, Scopes: []string{"payments.read"}, Denied: []string{"payments.admin"}},
		},
		{
			name: "attack: granted scope A, asking only for scope B", ns: "teama", client: "billing",
			resource: payments(nil, byName("teama", "billing", "payments.read")),
			scopes:   []string{"payments.admin"},
			want: Decision{Granted: true, Resource: "teamb/payments",
				Allowed: []string{"payments.read"}, Denied: []string{"payments.admin"}},
		},
		{
			name: "attack: a resource in conflict (holding nothing) grants nothing", ns: "evil", client: "app",
			resource: payments(func(r *v1alpha1.OAuthResource) {
				r.Namespace, r.Status.Audience = "evil", ""
			}, byName("evil", "app", "payments.admin")),
			want: Decision{Reason: ReasonNoSuchResource},
		},
		{
			name: "attack: a resource whose spec moved to another audience grants neither", ns: "evil", client: "app",
			resource: payments(func(r *v1alpha1.OAuthResource) { r.Namespace, r.Spec.Audience = "evil", "https://other.example" }),
			want:     Decision{Reason: ReasonNoSuchResource},
		},
		{
			name: "attack: a resource passed for another audience grants nothing", ns: "teamb", client: "checkout",
			resource: payments(nil), audience: "https://admin.teamb.example",
			want: Decision{Reason: ReasonNoSuchResource},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.audience
			if a == "" {
				a = aud
			}
			got := Decide(Request{ClientNamespace: tt.ns, ClientName: tt.client, NamespaceLabels: tt.labels,
				Audience: a, Resource: tt.resource, Scopes: tt.scopes})
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestForClientAndSummary(t *testing.T) {
	c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "teama", Name: "billing"}}
	c.Spec.Scopes = []string{"openid", "payments.read"}
	c.Spec.Audiences = []string{aud, "https://nobody.example", "https://ledger.teamc.example"}
	ledger := payments(func(r *v1alpha1.OAuthResource) {
		r.Namespace, r.Name, r.Spec.Audience, r.Status.Audience = "teamc", "ledger", "https://ledger.teamc.example", "https://ledger.teamc.example"
	})
	holders := map[string]*v1alpha1.OAuthResource{
		aud:                            payments(nil, byName("teama", "billing", "payments.read", "payments.write")),
		"https://ledger.teamc.example": ledger,
	}
	got := ForClient(c, map[string]string{"team": "a"}, holders)
	if len(got) != 3 {
		t.Fatalf("got %d statuses: %+v", len(got), got)
	}
	want0 := v1alpha1.AudienceStatus{Audience: aud, Granted: true, Resource: "teamb/payments", Scopes: []string{"payments.read"},
		Message: "granted by OAuthResource teamb/payments; it also grants payments.write, which spec.scopes does not list"}
	if !reflect.DeepEqual(got[0], want0) {
		t.Errorf("granted audience:\ngot  %+v\nwant %+v", got[0], want0)
	}
	if g := got[1]; g.Granted || g.Reason != ReasonNoSuchResource || g.Resource != "" || !strings.Contains(g.Message, "no OAuthResource holds") {
		t.Errorf("unheld audience: %+v", g)
	}
	if g := got[2]; g.Granted || g.Reason != ReasonNotGranted || g.Resource != "" || !strings.Contains(g.Message, "teamc/ledger") {
		t.Errorf("audience not granted: %+v", g)
	}

	ok, msg := Summary(got)
	if ok || !strings.Contains(msg, `"https://nobody.example" (NoSuchResource)`) || !strings.Contains(msg, `"https://ledger.teamc.example" (NotGranted)`) || strings.Contains(msg, aud+`"`) {
		t.Errorf("summary with refusals: %v %q", ok, msg)
	}
	if ok, msg := Summary(got[:1]); !ok || msg == "" {
		t.Errorf("summary all granted: %v %q", ok, msg)
	}
	if ok, msg := Summary(nil); !ok || !strings.Contains(msg, "no audiences") {
		t.Errorf("summary without audiences: %v %q", ok, msg)
	}

	// Its own client_id is granted, with no resource.
	c.Status.ClientID = "teama.billing"
	c.Spec.Audiences = []string{aud, "teama.billing"}
	if g := ForClient(c, nil, holders)[1]; !g.Granted || g.Resource != "" || g.Reason != "" {
		t.Errorf("own client_id: %+v", g)
	}

	// A client listing no scopes asks for none: granted, with no scopes.
	c.Spec.Scopes = nil
	if g := ForClient(c, nil, holders)[0]; !g.Granted || len(g.Scopes) != 0 {
		t.Errorf("client without scopes: %+v", g)
	}
}

// Package grants decides whether a client may obtain tokens for an audience,
// and with which scopes. An audience belongs to the OAuthResource holding it,
// and the resource's owner decides who gets tokens for it: clients of its own
// namespace by default, clients of other namespaces only by a grant naming
// them or selecting their namespace (the owner of the target grants, as with
// Gateway API's ReferenceGrant).
//
// The decision is a pure function of what the caller gathered (the client,
// its namespace's labels, the resource holding the audience), so the
// controller writing OAuthClient status and the token server deciding a
// token request answer the same way, and both are tested by one table.
package grants

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// Reasons an audience is refused (AudienceStatus.Reason).
const (
	// ReasonNoSuchResource: no OAuthResource holds the audience (none
	// asks for it, or the ones that do are in conflict).
	ReasonNoSuchResource = "NoSuchResource"
	// ReasonNotGranted: the resource holding the audience grants this
	// client nothing.
	ReasonNotGranted = "NotGranted"
)

// Request is what a decision is made from.
type Request struct {
	// ClientNamespace and ClientName name the OAuthClient object.
	ClientNamespace, ClientName string
	// NamespaceLabels are the labels of the client's namespace, matched
	// against the grants' namespace selectors.
	NamespaceLabels map[string]string
	// Audience asked for.
	Audience string
	// Resource is the OAuthResource holding Audience, or nil when none
	// does. A resource that does not hold Audience (in conflict, or its
	// spec moved on) grants nothing.
	Resource *v1alpha1.OAuthResource
	// Scopes requested. Nil asks for every scope the resource grants the
	// client.
	Scopes []string
}

// Decision is the answer for one audience.
type Decision struct {
	// Granted is true when the resource grants the client tokens for the
	// audience.
	Granted bool
	// Reason is why not (ReasonNoSuchResource, ReasonNotGranted); empty
	// when granted.
	Reason string
	// Resource is namespace/name of the resource holding the audience.
	Resource string
	// Allowed is every scope the resource grants this client, sorted.
	Allowed []string
	// Scopes are the requested scopes within Allowed, in request order
	// (all of Allowed when the request named none).
	Scopes []string
	// Denied are requested scopes the resource defines but does not grant
	// this client, in request order. Scopes it does not define are not
	// its to deny and appear in neither list.
	Denied []string
}

// Decide decides one audience for one client.
func Decide(req Request) Decision {
	r := req.Resource
	if r == nil || !r.HoldsAudience() || r.Spec.Audience != req.Audience || !r.DeletionTimestamp.IsZero() {
		return Decision{Reason: ReasonNoSuchResource}
	}
	d := Decision{Resource: r.Namespace + "/" + r.Name}
	allowed, matched := allowedScopes(r, req.ClientNamespace, req.ClientName, req.NamespaceLabels)
	if !matched {
		d.Reason = ReasonNotGranted
		d.Denied = definedOf(r, req.Scopes)
		return d
	}
	d.Granted, d.Allowed = true, allowed
	if req.Scopes == nil {
		d.Scopes = slices.Clone(allowed)
		return d
	}
	for _, s := range req.Scopes {
		switch {
		case slices.Contains(allowed, s):
			d.Scopes = append(d.Scopes, s)
		case slices.Contains(r.Spec.Scopes, s):
			d.Denied = append(d.Denied, s)
		}
	}
	return d
}

// allowedScopes is the sorted union of the scopes r grants the client, and
// whether any rule (same namespace, or a grant) matched it at all.
func allowedScopes(r *v1alpha1.OAuthResource, namespace, name string, nsLabels map[string]string) ([]string, bool) {
	var scopes []string
	matched := false
	if namespace == r.Namespace && r.SameNamespaceAllowed() {
		scopes, matched = append(scopes, r.Spec.Scopes...), true
	}
	for i := range r.Spec.Grants {
		g := &r.Spec.Grants[i]
		if grantMatches(g, namespace, name, nsLabels) {
			scopes, matched = append(scopes, g.Scopes...), true
		}
	}
	// The API server checks that grants give only spec.scopes; a grant
	// written before that rule, or by a client bypassing it, gives no more.
	scopes = slices.DeleteFunc(scopes, func(s string) bool { return !slices.Contains(r.Spec.Scopes, s) })
	slices.Sort(scopes)
	return slices.Compact(scopes), matched
}

// grantMatches reports whether g names the client or selects its namespace.
// A selector that does not parse matches nothing: a broken grant fails
// closed.
func grantMatches(g *v1alpha1.ResourceGrant, namespace, name string, nsLabels map[string]string) bool {
	for _, c := range g.Clients {
		if c.Namespace == namespace && c.Name == name {
			return true
		}
	}
	if g.NamespaceSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(g.NamespaceSelector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(nsLabels))
}

// definedOf returns the scopes of want that r defines.
func definedOf(r *v1alpha1.OAuthResource, want []string) []string {
	var out []string
	for _, s := range want {
		if slices.Contains(r.Spec.Scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// ForClient decides every audience of c's spec.audiences, for its status.
// The client's own client_id (status.clientID) is granted, as the token
// server grants it. holders maps an audience to the resource holding it (absent when none
// does); nsLabels are the labels of c's namespace. The scopes shown are
// those of c's spec.scopes the resource grants, since a client can request
// no others.
func ForClient(c *v1alpha1.OAuthClient, nsLabels map[string]string, holders map[string]*v1alpha1.OAuthResource) []v1alpha1.AudienceStatus {
	var out []v1alpha1.AudienceStatus
	for _, aud := range c.Spec.Audiences {
		if aud != "" && aud == c.Status.ClientID {
			// The token server always grants a client its own client_id.
			out = append(out, v1alpha1.AudienceStatus{Audience: aud, Granted: true, Message: "the client's own client_id"})
			continue
		}
		d := Decide(Request{
			ClientNamespace: c.Namespace, ClientName: c.Name, NamespaceLabels: nsLabels,
			Audience: aud, Resource: holders[aud], Scopes: nonNil(c.Spec.Scopes),
		})
		out = append(out, v1alpha1.AudienceStatus{
			Audience: aud, Granted: d.Granted, Resource: grantedBy(d),
			Scopes: d.Scopes, Reason: d.Reason, Message: message(aud, d),
		})
	}
	return out
}

// nonNil makes a client that lists no scopes ask for none, rather than for
// everything.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func grantedBy(d Decision) string {
	if d.Granted {
		return d.Resource
	}
	return ""
}

// message explains a decision to the client's owner.
func message(aud string, d Decision) string {
	switch {
	case d.Reason == ReasonNoSuchResource:
		return fmt.Sprintf("no OAuthResource holds the audience %q", aud)
	case !d.Granted:
		return fmt.Sprintf("OAuthResource %s, which holds %q, grants this client nothing; its owner can add a grant", d.Resource, aud)
	}
	msg := "granted by OAuthResource " + d.Resource
	if unasked := without(d.Allowed, d.Scopes); len(unasked) > 0 {
		msg += fmt.Sprintf("; it also grants %s, which spec.scopes does not list", strings.Join(unasked, " "))
	}
	return msg
}

func without(all, some []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(some, s) })
}

// Summary is the AudiencesGranted condition for a client's audience
// statuses: true when every one is granted; otherwise false with a message
// naming the refused ones.
func Summary(statuses []v1alpha1.AudienceStatus) (ok bool, message string) {
	var refused []string
	for _, s := range statuses {
		if !s.Granted {
			refused = append(refused, fmt.Sprintf("%q (%s)", s.Audience, s.Reason))
		}
	}
	switch {
	case len(refused) > 0:
		return false, "refused audiences: " + strings.Join(refused, ", ") + "; tokens never carry them (see status.audiences)"
	case len(statuses) == 0:
		return true, "the client asks for no audiences: its tokens are for itself"
	default:
		return true, "every audience in spec.audiences is granted"
	}
}

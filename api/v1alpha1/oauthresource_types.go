package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClientReference names one OAuthClient object. It names the object, not a
// client_id, so that a grant can never reach a client of another namespace
// that happens to choose the same id.
type ClientReference struct {
	// Namespace of the OAuthClient.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="namespace must be a namespace name (a DNS label)"
	// +required
	Namespace string `json:"namespace"`
	// Name of the OAuthClient object (metadata.name, not its client_id).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// ResourceGrant lets clients of other namespaces obtain tokens for the
// resource's audience with some of its scopes. It is the resource owner's
// consent, in the way Gateway API's ReferenceGrant is the target's.
// +kubebuilder:validation:XValidation:rule="(has(self.clients) && size(self.clients) > 0) || has(self.namespaceSelector)",message="a grant must name clients, select namespaces with namespaceSelector, or both"
type ResourceGrant struct {
	// Clients granted by namespace and object name.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Clients []ClientReference `json:"clients,omitempty"`
	// NamespaceSelector grants every client of the namespaces whose labels
	// it matches. An empty selector ({}) matches every namespace. Whoever
	// can label namespaces decides what it matches; the label
	// kubernetes.io/metadata.name selects one namespace by name.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// Scopes granted, each one of spec.scopes.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	// +required
	Scopes []string `json:"scopes"`
}

// OAuthResourceSpec is the audience a resource server checks, the scopes it
// defines, and who may obtain tokens for it.
// +kubebuilder:validation:XValidation:rule="!has(self.grants) || self.grants.all(g, g.scopes.all(s, has(self.scopes) && s in self.scopes))",message="every scope in spec.grants[].scopes must be listed in spec.scopes"
type OAuthResourceSpec struct {
	// Audience is the aud value of the tokens for this resource, the one
	// its servers check (often its base URL). One resource holds an
	// audience at a time: the first to claim it keeps it, and another that
	// asks for it is not Ready (reason AudienceConflict).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches(r'^[\\x21-\\x7E]+$')",message="audience must be printable ASCII without spaces"
	// +required
	Audience string `json:"audience"`

	// Scopes the resource defines. Clients get them only as granted.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:XValidation:rule="self.matches(r'^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$')",message="a scope must be a scope token (RFC 6749 §3.3): printable ASCII without spaces, double quotes or backslashes"
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// AllowSameNamespace lets every client of the resource's own namespace
	// obtain tokens for it with all of its scopes, without a grant.
	// Default true.
	// +kubebuilder:default=true
	// +optional
	AllowSameNamespace *bool `json:"allowSameNamespace,omitempty"`

	// Grants let clients of other namespaces (or, with allowSameNamespace
	// false, chosen clients of this one) obtain tokens for the audience,
	// with the scopes each grant names. A client matched by several grants
	// gets the union of their scopes.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Grants []ResourceGrant `json:"grants,omitempty"`
}

// OAuthResourceStatus is the observed state of an OAuthResource.
type OAuthResourceStatus struct {
	// Audience the resource holds. Empty while another resource holds it.
	// +optional
	Audience string `json:"audience,omitempty"`
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, with reason AudienceConflict when another resource
	// holds the audience.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// OAuthResource registers a resource server (an API): the audience its tokens
// carry, the scopes it defines, and which clients may obtain them. An
// OAuthClient's spec.audiences are granted only by the resource holding each.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oauthres,categories=tokenwarden
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Audience",type=string,JSONPath=`.spec.audience`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthResource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the audience, the scopes and the grants.
	// +required
	Spec OAuthResourceSpec `json:"spec"`
	// Status is what the operator observed.
	// +optional
	Status OAuthResourceStatus `json:"status,omitempty"`
}

// OAuthResourceList is a list of OAuthResources.
// +kubebuilder:object:root=true
type OAuthResourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthResource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthResource{}, &OAuthResourceList{})
}

// SameNamespaceAllowed is spec.allowSameNamespace with its default (true).
func (r *OAuthResource) SameNamespaceAllowed() bool {
	return r.Spec.AllowSameNamespace == nil || *r.Spec.AllowSameNamespace
}

// HoldsAudience reports whether the resource holds its spec.audience: its
// status says so for the audience its spec still asks for. A resource whose
// audience was just changed holds neither the old nor the new one until it is
// reconciled.
func (r *OAuthResource) HoldsAudience() bool {
	return r.Status.Audience != "" && r.Status.Audience == r.Spec.Audience
}

// AudienceStatus is whether one entry of an OAuthClient's spec.audiences is
// granted, by which resource and with which scopes.
type AudienceStatus struct {
	// Audience as in spec.audiences.
	Audience string `json:"audience"`
	// Granted is true when the resource holding the audience grants this
	// client tokens for it.
	Granted bool `json:"granted"`
	// Resource is the OAuthResource (namespace/name) that granted it.
	// +optional
	Resource string `json:"resource,omitempty"`
	// Scopes of spec.scopes the client may obtain for this audience.
	// +optional
	Scopes []string `json:"scopes,omitempty"`
	// Reason is why it is refused: NoSuchResource (no resource holds the
	// audience) or NotGranted (the resource grants this client nothing).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message explains the outcome to a person.
	// +optional
	Message string `json:"message,omitempty"`
}

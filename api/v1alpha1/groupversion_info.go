// Package v1alpha1 contains the Tokenwarden API: OAuthClient, OAuthUser and
// OAuthResource.
// +kubebuilder:object:generate=true
// +groupName=oauth.tokenwarden.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the Tokenwarden API.
	GroupVersion = schema.GroupVersion{Group: "oauth.tokenwarden.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Tokenwarden types with a runtime scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Tokenwarden types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

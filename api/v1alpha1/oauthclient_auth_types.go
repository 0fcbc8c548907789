package v1alpha1

// ClientSecretPolicy says whether a confidential client gets a static secret.
// +kubebuilder:validation:Enum=Generate;None
type ClientSecretPolicy string

const (
	// ClientSecretGenerate writes a generated client_secret into the
	// credential Secret (the default).
	ClientSecretGenerate ClientSecretPolicy = "Generate"
	// ClientSecretNone writes no client_secret: the client authenticates only
	// with a ServiceAccount token or private_key_jwt. The credential Secret
	// still holds client_id and the endpoint URLs.
	ClientSecretNone ClientSecretPolicy = "None"
)

// ClientAuthentication declares how a confidential client authenticates
// besides, or instead of, a static client_secret: with the projected token of
// a ServiceAccount of its namespace, or with a JWT signed by a key of its own
// (private_key_jwt). Both are RFC 7523 client assertions
// (client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer).
// +kubebuilder:validation:XValidation:rule="!(has(self.clientSecret) && self.clientSecret == 'None' && (!has(self.serviceAccounts) || size(self.serviceAccounts) == 0) && !has(self.privateKeyJWT))",message="clientSecret None needs serviceAccounts or privateKeyJWT: the client would have no way to authenticate"
type ClientAuthentication struct {
	// ServiceAccounts are names of ServiceAccounts in this namespace whose
	// tokens authenticate as this client. A pod sends its projected token
	// (audience: the issuer URL, or one of --service-account-audiences) as
	// client_assertion; the token server checks it with the TokenReview API.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`

	// PrivateKeyJWT holds the client's public keys for private_key_jwt (RFC
	// 7523 §2.2, OpenID Connect Core §9).
	// +optional
	PrivateKeyJWT *PrivateKeyJWT `json:"privateKeyJWT,omitempty"`

	// ClientSecret is Generate (default: a client_secret in the credential
	// Secret) or None (no static secret at all).
	// +kubebuilder:default=Generate
	// +optional
	ClientSecret ClientSecretPolicy `json:"clientSecret,omitempty"`
}

// PrivateKeyJWT names the public keys that verify a client's assertions:
// exactly one of jwks, secretRef or configMapRef.
// +kubebuilder:validation:XValidation:rule="(has(self.jwks) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) == 1",message="set exactly one of jwks, secretRef and configMapRef"
type PrivateKeyJWT struct {
	// JWKS is a JSON Web Key Set (RFC 7517 §5) of public keys, inline.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	JWKS string `json:"jwks,omitempty"`
	// SecretRef names a Secret of this namespace holding the JWKS.
	// +optional
	SecretRef *KeyReference `json:"secretRef,omitempty"`
	// ConfigMapRef names a ConfigMap of this namespace holding the JWKS.
	// +optional
	ConfigMapRef *KeyReference `json:"configMapRef,omitempty"`
}

// KeyReference is a key of a Secret or ConfigMap in the client's namespace.
type KeyReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key holding the JWKS. Default "jwks.json".
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// DefaultJWKSKey is the key a KeyReference reads when it names none.
const DefaultJWKSKey = "jwks.json"

// HasStaticSecret reports whether the client gets a client_secret: not a
// public client, and not one whose authentication says None.
func (c *OAuthClient) HasStaticSecret() bool {
	if c.Spec.Public {
		return false
	}
	a := c.Spec.Authentication
	return a == nil || a.ClientSecret != ClientSecretNone
}

// MayActAsServiceAccount reports whether the ServiceAccount name of the
// client's own namespace may authenticate as the client.
func (c *OAuthClient) MayActAsServiceAccount(namespace, name string) bool {
	if c.Spec.Public || c.Spec.Authentication == nil || namespace != c.Namespace {
		return false
	}
	for _, sa := range c.Spec.Authentication.ServiceAccounts {
		if sa == name {
			return true
		}
	}
	return false
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GrantType is an OAuth 2.0 grant a client may use.
// +kubebuilder:validation:Enum=client_credentials;password;refresh_token;authorization_code;implicit;"urn:ietf:params:oauth:grant-type:token-exchange"
type GrantType string

// The grant types Tokenwarden knows.
const (
	// GrantClientCredentials is RFC 6749 §4.4: a confidential client acting for itself.
	GrantClientCredentials GrantType = "client_credentials"
	// GrantPassword is RFC 6749 §4.3, the resource owner password grant. RFC 9700
	// discourages it; it is opt-in for integrations that need it.
	GrantPassword GrantType = "password"
	// GrantRefreshToken is RFC 6749 §6.
	GrantRefreshToken GrantType = "refresh_token"
	// GrantAuthorizationCode is RFC 6749 §4.1 with PKCE (RFC 7636).
	GrantAuthorizationCode GrantType = "authorization_code"
	// GrantImplicit is RFC 6749 §4.2, legacy (RFC 9700 §2.1.2); opt-in only.
	GrantImplicit GrantType = "implicit"
	// GrantTokenExchange is RFC 8693: a subject token (an access token of
	// the client's namespace, or a ServiceAccount token of it) exchanged
	// for a token for an audience the client is granted.
	GrantTokenExchange GrantType = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// SecretRotation rotates a confidential client's secret periodically.
// +kubebuilder:validation:XValidation:rule="duration(self.overlap) < duration(self.interval)",message="secretRotation.overlap must be shorter than secretRotation.interval"
type SecretRotation struct {
	// Interval between two secret rotations, for example "720h". At least 1m.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="secretRotation.interval must be at least 1m"
	// +required
	Interval metav1.Duration `json:"interval"`
	// Overlap is how long the previous secret stays valid after a rotation, so
	// workloads can pick up the new one. It is kept in the Secret as
	// client_secret_previous until then. Default 1h.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="secretRotation.overlap must not be negative"
	// +optional
	Overlap metav1.Duration `json:"overlap,omitempty"`
}

// OAuthClientSpec is what a client may do and where its credentials go.
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && has(self.grantTypes) && 'client_credentials' in self.grantTypes)",message="a public client cannot use client_credentials: it has no secret to authenticate with"
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && has(self.secretRotation))",message="a public client has no secret to rotate: remove secretRotation"
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && has(self.authentication))",message="a public client does not authenticate: remove authentication"
// +kubebuilder:validation:XValidation:rule="!(has(self.authentication) && has(self.authentication.clientSecret) && self.authentication.clientSecret == 'None' && has(self.secretRotation))",message="a client without a static secret has none to rotate: remove secretRotation"
// +kubebuilder:validation:XValidation:rule="!(has(self.grantTypes) && ('implicit' in self.grantTypes || 'authorization_code' in self.grantTypes) && (!has(self.redirectURIs) || size(self.redirectURIs) == 0))",message="authorization_code and implicit need at least one entry in redirectURIs"
// +kubebuilder:validation:XValidation:rule="!(has(self.grantTypes) && 'refresh_token' in self.grantTypes && !('password' in self.grantTypes || 'authorization_code' in self.grantTypes))",message="refresh_token needs a grant that issues refresh tokens: password or authorization_code"
type OAuthClientSpec struct {
	// ClientID to use instead of the generated one ("<namespace>.<name>"). It
	// must begin with "<namespace>." unless the platform team annotates the
	// Namespace tokenwarden.dev/allow-unprefixed-client-ids: "true" (for
	// legacy ids such as UUIDs); otherwise the client is not Ready (reason
	// ClientIDNotAllowed). It must be unique in the cluster: when another
	// client already holds it, this client is not Ready (reason
	// ClientIDConflict) and gets no credentials. An id never passes to
	// another namespace by itself.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._~-]*$`
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// DisplayName is shown on the login page. Defaults to the object name.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// GrantTypes the client may use. Default: [client_credentials].
	// +kubebuilder:default={client_credentials}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=6
	// +listType=set
	// +optional
	GrantTypes []GrantType `json:"grantTypes,omitempty"`

	// Public marks a client that cannot keep a secret (a browser or mobile app).
	// It gets no client_secret, may not use client_credentials, and must use PKCE
	// with authorization_code.
	// +optional
	Public bool `json:"public,omitempty"`

	// Scopes the client may request. A request for any other scope is
	// invalid_scope. The OpenID scopes (openid, profile, email, offline_access)
	// must be listed too to be granted.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// Audiences the client asks to request tokens for (the aud claim). Each
	// is usable only once the OAuthResource holding it grants this client
	// (see status.audiences). When empty, tokens are issued for the client
	// itself.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	Audiences []string `json:"audiences,omitempty"`

	// RedirectURIs for browser flows, compared by exact string match. Each is
	// parsed (CEL url(), and again by the server): https with a host, or http
	// with exactly the loopback host 127.0.0.1, [::1] or localhost (any port),
	// without userinfo or fragment.
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:XValidation:rule="isURL(self) && ((url(self).getScheme() == 'https' && url(self).getHostname() != '') || (url(self).getScheme() == 'http' && url(self).getHostname() in ['127.0.0.1', '::1', 'localhost']))",message="redirect URIs must be https, or http on a loopback address (exactly 127.0.0.1, [::1] or localhost)"
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^https?://[^@/?#]*([/?#]|$)')",message="redirect URIs must start with https:// or http:// in lower case and must not contain userinfo (user@) before the host"
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('#')",message="redirect URIs must not contain a fragment (RFC 6749 §3.1.2)"
	// +kubebuilder:validation:items:MaxLength=2048
	// +optional
	RedirectURIs []string `json:"redirectURIs,omitempty"`

	// PostLogoutRedirectURIs are where the logout endpoint may send the
	// browser after signing the user out (OpenID Connect RP-Initiated Logout
	// 1.0 §3), compared by exact string match, and only for a logout request
	// whose id_token_hint was issued to this client. Same rules as
	// redirectURIs.
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:XValidation:rule="isURL(self) && ((url(self).getScheme() == 'https' && url(self).getHostname() != '') || (url(self).getScheme() == 'http' && url(self).getHostname() in ['127.0.0.1', '::1', 'localhost']))",message="post-logout redirect URIs must be https, or http on a loopback address (exactly 127.0.0.1, [::1] or localhost)"
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^https?://[^@/?#]*([/?#]|$)')",message="post-logout redirect URIs must start with https:// or http:// in lower case and must not contain userinfo (user@) before the host"
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('#')",message="post-logout redirect URIs must not contain a fragment"
	// +kubebuilder:validation:items:MaxLength=2048
	// +optional
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectURIs,omitempty"`

	// AccessTokenTTL is the lifetime of access tokens. Default 1h, at least 1m.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="accessTokenTTL must be between 1m and 24h"
	// +optional
	AccessTokenTTL *metav1.Duration `json:"accessTokenTTL,omitempty"`

	// RefreshTokenTTL is the absolute lifetime of a refresh token family: after
	// it, the user must sign in again. Default 720h (30 days).
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="refreshTokenTTL must be at least 1m"
	// +optional
	RefreshTokenTTL *metav1.Duration `json:"refreshTokenTTL,omitempty"`

	// RefreshTokenIdleTTL ends a refresh token family that was not used for this
	// long. Default 168h (7 days).
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="refreshTokenIdleTTL must be at least 1m"
	// +optional
	RefreshTokenIdleTTL *metav1.Duration `json:"refreshTokenIdleTTL,omitempty"`

	// IDTokenTTL is the lifetime of OpenID Connect id_tokens. Default 1h.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="idTokenTTL must be between 1m and 24h"
	// +optional
	IDTokenTTL *metav1.Duration `json:"idTokenTTL,omitempty"`

	// SecretName is the credential Secret written for this client. Default
	// "<name>-oauth-client". An existing Secret of that name is adopted only
	// when it is Opaque and annotated tokenwarden.dev/adopt-by:
	// OAuthClient/<name> by its writer: its client_secret and other keys are
	// kept. Any other existing Secret is left alone (reason SecretConflict).
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// SecretTemplate adds labels and annotations to the credential Secret.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// SecretRotation rotates the client secret periodically. Off when unset.
	// +optional
	SecretRotation *SecretRotation `json:"secretRotation,omitempty"`

	// IncludeUserInTokenResponse adds a "user" object (username, uid, email,
	// display name) to password and authorization_code token responses, for
	// clients written against APIs that return one.
	// +optional
	IncludeUserInTokenResponse bool `json:"includeUserInTokenResponse,omitempty"`

	// Compatibility shapes token responses and errors for a client written
	// against another server, and claims alias paths as its default.
	// +optional
	Compatibility *Compatibility `json:"compatibility,omitempty"`

	// AllowPlainPKCE accepts code_challenge_method=plain. Off by default: S256 is
	// required (RFC 7636 §4.2, RFC 9700 §2.1.1).
	// +optional
	AllowPlainPKCE bool `json:"allowPlainPKCE,omitempty"`

	// TokenSecrets are Secrets in this namespace that Tokenwarden keeps filled
	// with fresh tokens of this client, for workloads that mount a token
	// instead of running an OAuth client. Each holds access_token, token_type,
	// expires_at, scope, issuer and token_url, and for user tokens
	// refresh_token; tokens are renewed at refreshAtPercent of their lifetime.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	TokenSecrets []TokenSecret `json:"tokenSecrets,omitempty"`

	// Authentication adds secretless client authentication: ServiceAccount
	// tokens and private_key_jwt (oauthclient_auth_types.go).
	// +optional
	Authentication *ClientAuthentication `json:"authentication,omitempty"`
}

// TokenSecret declares one Secret of tokens kept fresh for a workload.
type TokenSecret struct {
	// Name of the Secret, in the client's namespace. It must not be the
	// client's credential Secret. A Secret of that name controlled by another
	// object is never overwritten.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// User is the username of an OAuthUser in this namespace. When set, the
	// Secret holds that user's tokens through this client, issued exactly as
	// the password grant would (hash-only users work too) and then renewed
	// with the refresh_token grant: the client must allow the password grant,
	// and refresh_token for a refresh token to be kept. Without it, the
	// Secret holds client_credentials tokens of the client itself.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	User string `json:"user,omitempty"`

	// Scopes to ask for, within spec.scopes. Default: the client's default
	// scopes for the grant.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// Audiences of the access token, within spec.audiences. Default: all of
	// the client's audiences.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Audiences []string `json:"audiences,omitempty"`

	// RefreshAtPercent is the share of a token's lifetime after which it is
	// renewed, minus up to 5% of jitter so many Secrets do not renew at once.
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=95
	// +optional
	RefreshAtPercent int32 `json:"refreshAtPercent,omitempty"`
}

// TokenSecretStatus is the state of one token Secret.
type TokenSecretStatus struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Ready is true when the Secret holds a valid token.
	Ready bool `json:"ready"`
	// Reason is a CamelCase word for why it is not ready, or "Ready".
	Reason string `json:"reason,omitempty"`
	// Message explains Reason.
	Message string `json:"message,omitempty"`
	// LastRefreshTime is when the tokens in the Secret were issued.
	// +optional
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`
	// NextRefreshTime is when they will be renewed.
	// +optional
	NextRefreshTime *metav1.Time `json:"nextRefreshTime,omitempty"`
	// ExpiryTime is when the access token in the Secret expires.
	// +optional
	ExpiryTime *metav1.Time `json:"expiryTime,omitempty"`
}

// OAuthClientStatus is the observed state of an OAuthClient.
type OAuthClientStatus struct {
	// ClientID in use. Empty until the client is Ready.
	// +optional
	ClientID string `json:"clientID,omitempty"`
	// SecretName of the credential Secret.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastSecretRotationTime is when the current client secret was generated.
	// +optional
	LastSecretRotationTime *metav1.Time `json:"lastSecretRotationTime,omitempty"`
	// NextSecretRotationTime is when the next rotation is due, with
	// secretRotation set.
	// +optional
	NextSecretRotationTime *metav1.Time `json:"nextSecretRotationTime,omitempty"`
	// PreviousSecretExpiryTime is when client_secret_previous stops working.
	// +optional
	PreviousSecretExpiryTime *metav1.Time `json:"previousSecretExpiryTime,omitempty"`
	// TokenSecrets is the state of each spec.tokenSecrets entry.
	// +listType=map
	// +listMapKey=name
	// +optional
	TokenSecrets []TokenSecretStatus `json:"tokenSecrets,omitempty"`
	// Audiences is whether each spec.audiences entry is granted by the
	// OAuthResource holding it. A refused audience never reaches a token.
	// +listType=map
	// +listMapKey=audience
	// +optional
	Audiences []AudienceStatus `json:"audiences,omitempty"`
	// Compatibility is what the operator decided about
	// spec.compatibility: the alias paths this client holds.
	// +optional
	Compatibility *CompatibilityStatus `json:"compatibility,omitempty"`
	// Conditions: Ready, with a reason and message when it is not;
	// AudiencesGranted; with spec.tokenSecrets, TokensReady too; with
	// spec.compatibility.defaultForPaths, DefaultPaths.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// OAuthClient registers an OAuth 2.0 / OpenID Connect client. Its credentials
// are written to a Secret a workload can mount.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oac,categories=tokenwarden
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientID`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 240",message="metadata.name must be at most 240 characters, so the derived Secret name fits"
type OAuthClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the client may do.
	// +optional
	Spec OAuthClientSpec `json:"spec,omitempty"`
	// Status is what the operator observed and did.
	// +optional
	Status OAuthClientStatus `json:"status,omitempty"`
}

// OAuthClientList is a list of OAuthClients.
// +kubebuilder:object:root=true
type OAuthClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthClient{}, &OAuthClientList{})
}

// HasGrant reports whether the client lists grant g.
func (c *OAuthClient) HasGrant(g GrantType) bool {
	for _, x := range c.Spec.GrantTypes {
		if x == g {
			return true
		}
	}
	return false
}

// EffectiveSecretName is spec.secretName or the name derived from the object.
func (c *OAuthClient) EffectiveSecretName() string {
	if c.Spec.SecretName != "" {
		return c.Spec.SecretName
	}
	return c.Name + "-oauth-client"
}

// EffectiveClientID is spec.clientID or "<namespace>.<name>". Namespace names
// cannot contain a dot, so the generated form never collides between two
// generated ids.
func (c *OAuthClient) EffectiveClientID() string {
	if c.Spec.ClientID != "" {
		return c.Spec.ClientID
	}
	return c.Namespace + "." + c.Name
}

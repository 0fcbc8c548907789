package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PasswordSecretRef points at a key of a Secret, in the user's namespace, that
// the user owns and that holds the password in plain text.
type PasswordSecretRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
	// Key in the Secret. Default "password".
	// +kubebuilder:default=password
	// +optional
	Key string `json:"key,omitempty"`
}

// PasswordSpec says where a user's password comes from. At most one of
// secretRef and hash is set; with neither, a password is generated.
// +kubebuilder:validation:XValidation:rule="!(has(self.secretRef) && has(self.hash))",message="set at most one of password.secretRef and password.hash"
type PasswordSpec struct {
	// SecretRef takes the password from a Secret you own. Changes to that Secret
	// take effect within seconds. Tokenwarden labels it
	// (tokenwarden.dev/password-source) so that it can watch it.
	// +optional
	SecretRef *PasswordSecretRef `json:"secretRef,omitempty"`
	// Hash is a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$, PHC string
	// format) hash of the password, so no plaintext exists in the cluster.
	// Verification runs in the shared token server, so the work is bounded:
	// bcrypt cost 4..12 (10 recommended); argon2id m at most 65536 (KiB),
	// t at most 4 and p at most 4 (m=65536,t=3,p=4 recommended).
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('$2a$') || self.startsWith('$2b$') || self.startsWith('$2y$') || self.startsWith('$argon2id$')",message="password.hash must be a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[$]2[aby][$]') || self.matches('^[$]2[aby][$](0[4-9]|1[0-2])[$]')",message="password.hash: bcrypt cost must be 04..12; rehash with a cost of at most 12"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('$argon2id$') || self.matches('^[$]argon2id[$](v=[0-9]+[$])?([^$]*,)?m=0*([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-6])(,[^$]*)?[$]')",message="password.hash: argon2id memory m must be set and at most 65536 KiB (64 MiB)"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('$argon2id$') || self.matches('^[$]argon2id[$](v=[0-9]+[$])?([^$]*,)?t=0*[0-4](,[^$]*)?[$]')",message="password.hash: argon2id time t must be set and at most 4"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('$argon2id$') || self.matches('^[$]argon2id[$](v=[0-9]+[$])?([^$]*,)?p=0*[0-4](,[^$]*)?[$]')",message="password.hash: argon2id parallelism p must be set and at most 4"
	// +optional
	Hash string `json:"hash,omitempty"`
}

// OAuthUserSpec is an account for the password grant and the login page.
type OAuthUserSpec struct {
	// Username to sign in with. Default: the object name. Unique within the
	// namespace: a second user with the same username is not Ready.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[^\s:]+$`
	// +optional
	Username string `json:"username,omitempty"`

	// Password source. Default: a generated password written to the user's
	// Secret.
	// +optional
	Password PasswordSpec `json:"password,omitempty"`

	// SecretName is the credential Secret written for this user. Default
	// "<name>-oauth-user".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// SecretTemplate adds labels and annotations to the credential Secret.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// Email claim (scope email).
	// +kubebuilder:validation:MaxLength=254
	// +optional
	Email string `json:"email,omitempty"`

	// EmailVerified claim (scope email).
	// +optional
	EmailVerified bool `json:"emailVerified,omitempty"`

	// DisplayName, the name claim (scope profile).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// Groups claim (scope profile).
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=256
	// +optional
	Groups []string `json:"groups,omitempty"`

	// Claims are extra string claims added to id_tokens and userinfo (scope
	// profile). Registered claim names (iss, sub, aud, exp, ...) are ignored.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Claims map[string]string `json:"claims,omitempty"`

	// Disabled users get no new tokens, and their refresh tokens stop working.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// PasswordSourceKind names where a user's password is kept.
type PasswordSourceKind string

// The password sources.
const (
	// PasswordGenerated is a password generated into the user's Secret.
	PasswordGenerated PasswordSourceKind = "Generated"
	// PasswordFromSecret is a password read from a Secret the user owns.
	PasswordFromSecret PasswordSourceKind = "SecretRef"
	// PasswordHash is a password known only by its hash.
	PasswordHash PasswordSourceKind = "Hash"
)

// OAuthUserStatus is the observed state of an OAuthUser.
type OAuthUserStatus struct {
	// Username in use. Empty while the user is not Ready.
	// +optional
	Username string `json:"username,omitempty"`
	// SecretName of the credential Secret.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// PasswordSource in use.
	// +optional
	PasswordSource PasswordSourceKind `json:"passwordSource,omitempty"`
	// Disabled mirrors spec.disabled once it took effect.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// PasswordGeneration counts the changes of the password (a new hash, a
	// new value in the referenced Secret, a regenerated password) seen by
	// the operator. A browser session records it at sign-in and ends when it
	// differs; refresh-token families are revoked at each change.
	// +optional
	PasswordGeneration int64 `json:"passwordGeneration,omitempty"`
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, with a reason and message when it is not.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// OAuthUser is an account that can obtain tokens with the password grant or
// the login page, through a client of the same namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oau,categories=tokenwarden
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Username",type=string,JSONPath=`.status.username`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 240",message="metadata.name must be at most 240 characters, so the derived Secret name fits"
type OAuthUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the account.
	// +optional
	Spec OAuthUserSpec `json:"spec,omitempty"`
	// Status is what the operator observed and did.
	// +optional
	Status OAuthUserStatus `json:"status,omitempty"`
}

// OAuthUserList is a list of OAuthUsers.
// +kubebuilder:object:root=true
type OAuthUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthUser{}, &OAuthUserList{})
}

// EffectiveUsername is spec.username or the object name.
func (u *OAuthUser) EffectiveUsername() string {
	if u.Spec.Username != "" {
		return u.Spec.Username
	}
	return u.Name
}

// EffectiveSecretName is spec.secretName or the name derived from the object.
func (u *OAuthUser) EffectiveSecretName() string {
	if u.Spec.SecretName != "" {
		return u.Spec.SecretName
	}
	return u.Name + "-oauth-user"
}

// PasswordSourceKind tells which password source the spec selects.
func (u *OAuthUser) PasswordSourceKind() PasswordSourceKind {
	switch {
	case u.Spec.Password.Hash != "":
		return PasswordHash
	case u.Spec.Password.SecretRef != nil:
		return PasswordFromSecret
	default:
		return PasswordGenerated
	}
}

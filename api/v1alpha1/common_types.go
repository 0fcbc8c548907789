package v1alpha1

// Condition types of OAuthClient, OAuthUser and OAuthResource.
const (
	// ConditionReady is True when the object's credentials are usable.
	ConditionReady = "Ready"
	// ConditionTokensReady is True when every spec.tokenSecrets entry of an
	// OAuthClient holds a valid token.
	ConditionTokensReady = "TokensReady"
	// ConditionAudiencesGranted is True when every spec.audiences entry of
	// an OAuthClient is granted by the OAuthResource holding it.
	ConditionAudiencesGranted = "AudiencesGranted"
	// ConditionClientKeysReady is True when an OAuthClient's
	// spec.authentication.privateKeyJWT names a usable JWK Set.
	ConditionClientKeysReady = "ClientKeysReady"
)

// SecretTemplate holds metadata copied onto a generated credential Secret, for
// example labels a workload's tooling selects on. Keys under tokenwarden.dev/ are
// reserved and ignored.
type SecretTemplate struct {
	// Labels added to the credential Secret.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to the credential Secret.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

package contract

// Cache field indexes. The token server finds a client by the id it presents
// and a user by namespace and username without listing; the controllers use
// the "wanted" indexes to detect clashes before they happen.
const (
	// IndexClientID maps an OAuthClient to the client_id it holds (status),
	// set only once the id is known not to clash.
	IndexClientID = "status.clientID"
	// IndexWantedClientID maps an OAuthClient to the id its spec asks for.
	IndexWantedClientID = "spec.effectiveClientID"
	// IndexUsername maps an OAuthUser to the username it holds (status).
	IndexUsername = "status.username"
	// IndexWantedUsername maps an OAuthUser to the username its spec asks for.
	IndexWantedUsername = "spec.effectiveUsername"
	// IndexUserUID maps an OAuthUser to its UID: refresh-token families and
	// authorization codes name the user by UID.
	IndexUserUID = "metadata.uid"
	// IndexPasswordSecret maps an OAuthUser to the Secret it reads its
	// password from, so a change there reaches the user.
	IndexPasswordSecret = "spec.password.secretRef.name"
	// IndexResourceAudience maps an OAuthResource to the audience it holds
	// (status), set only once the audience is known not to clash.
	IndexResourceAudience = "status.audience"
	// IndexWantedAudience maps an OAuthResource to the audience its spec
	// asks for.
	IndexWantedAudience = "spec.audience"
	// IndexClientAudience maps an OAuthClient to each audience of its
	// spec.audiences, so a change to a resource reaches the clients asking
	// for its audience.
	IndexClientAudience = "spec.audiences"
	// IndexDefaultPath maps an OAuthClient to each token path alias it
	// holds as its default (status.compatibility.defaultForPaths).
	IndexDefaultPath = "status.compatibility.defaultForPaths"
	// IndexWantedDefaultPath maps an OAuthClient to each path its
	// spec.compatibility.defaultForPaths asks for.
	IndexWantedDefaultPath = "spec.compatibility.defaultForPaths"
)

// Keys of credential and token Secrets. They are snake_case so that a pod
// mounting the Secret gets files with the names OAuth documents use.
const (
	KeyClientID                     = "client_id"
	KeyClientSecret                 = "client_secret"
	KeyClientSecretPrevious         = "client_secret_previous"
	KeyClientSecretPreviousExpireAt = "client_secret_previous_expires_at"
	KeyUsername                     = "username"
	KeyPassword                     = "password"
	KeyIssuer                       = "issuer"
	KeyTokenURL                     = "token_url"
	KeyJWKSURL                      = "jwks_url"
	KeyScope                        = "scope"
	KeyAccessToken                  = "access_token"
	KeyRefreshToken                 = "refresh_token"
	KeyExpiresAt                    = "expires_at"
	KeyIssuedAt                     = "issued_at"
	KeyTokenType                    = "token_type"
)

// Labels and annotations Tokenwarden puts on what it writes. The manager caches
// only Secrets and ConfigMaps that carry LabelKind, so it never holds every
// Secret of the cluster in memory.
const (
	LabelKind      = "tokenwarden.dev/kind"
	LabelOwnerName = "tokenwarden.dev/owner"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "tokenwarden"
	// LabelFamilyClient names the client (object name) a refresh family
	// belongs to.
	LabelFamilyClient = "tokenwarden.dev/client"

	// AnnotationSecretRotatedAt records when client_secret was generated
	// (RFC 3339), so the rotation schedule survives a lost status.
	AnnotationSecretRotatedAt = "tokenwarden.dev/secret-rotated-at"

	// AnnotationManagedKeys, on a Secret Tokenwarden writes, lists the data
	// keys it wrote there (comma-separated, sorted). Tokenwarden removes only
	// keys listed here, so a key someone else put in the Secret is never
	// deleted by it.
	AnnotationManagedKeys = "tokenwarden.dev/managed-keys"

	// AnnotationAdoptBy, on an existing Secret, is its writer's consent to
	// being adopted as a credential Secret: its value names the one object
	// that may adopt it, "OAuthClient/<name>" or "OAuthUser/<name>" of the
	// Secret's namespace. Without it an existing Secret is never taken over.
	AnnotationAdoptBy = "tokenwarden.dev/adopt-by"

	// AnnotationAllowUnprefixedClientIDs, set to "true" on a Namespace by the
	// platform team, lets that namespace's OAuthClients choose a
	// spec.clientID that does not begin with "<namespace>." (a legacy id
	// such as a UUID). Tenants must not be able to edit Namespaces.
	AnnotationAllowUnprefixedClientIDs = "tokenwarden.dev/allow-unprefixed-client-ids"

	// AnnotationFirstPartyClients, set on a Namespace by the platform team,
	// lists OAuthClients of that namespace by name (comma-separated) whose
	// browser sign-ins skip the consent page: the platform vouches for
	// them. Tenants must not be able to edit Namespaces.
	AnnotationFirstPartyClients = "tokenwarden.dev/first-party-clients"

	// ReservedPrefix is the label and annotation prefix Tokenwarden owns;
	// user templates cannot set keys under it.
	ReservedPrefix = "tokenwarden.dev/"
)

// Values of LabelKind.
const (
	// KindClient marks an OAuthClient's credential Secret.
	KindClient = "client-credentials"
	// KindUser marks an OAuthUser's credential Secret.
	KindUser = "user-credentials"
	// KindPasswordSource marks a Secret of the user's own that an OAuthUser
	// takes its password from.
	KindPasswordSource = "password-source"
	// KindSigningKeys marks the Secret holding the signing keys.
	KindSigningKeys = "signing-keys"
	// KindJWKS marks the ConfigMap holding the public JWKS.
	KindJWKS = "jwks"
	// KindRefreshFamily marks a refresh-token family record.
	KindRefreshFamily = "refresh-family"
	// KindAuthorizationCode marks an authorization-code record.
	KindAuthorizationCode = "authorization-code"
	// KindConsent marks a user's remembered consent to a client.
	KindConsent = "consent"
	// KindRevokedToken marks a revoked access token record.
	KindRevokedToken = "revoked-token"
	// KindWorkloadToken marks a workload token Secret.
	KindWorkloadToken = "workload-token"
	// KindClientKeys marks a Secret or ConfigMap of the tenant's own that
	// holds an OAuthClient's private_key_jwt JWK Set.
	KindClientKeys = "client-keys"
)

// ManagedLabels are the labels every Secret Tokenwarden writes carries.
func ManagedLabels(kind, owner string) map[string]string {
	l := map[string]string{LabelKind: kind, LabelManagedBy: ManagedBy}
	if owner != "" && len(owner) <= 63 {
		l[LabelOwnerName] = owner
	}
	return l
}

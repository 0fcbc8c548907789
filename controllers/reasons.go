package controllers

// Condition reasons and Event reasons, in one place so that status, Events and
// docs use the same words.
const (
	reasonReady               = "Ready"
	reasonClientIDConflict    = "ClientIDConflict"
	reasonClientIDNotAllowed  = "ClientIDNotAllowed"
	reasonUsernameConflict    = "UsernameConflict"
	reasonSecretConflict      = "SecretConflict"
	reasonSecretWriteFailed   = "SecretWriteFailed"
	reasonPasswordSecretGone  = "PasswordSecretMissing"
	reasonInvalidPasswordHash = "InvalidPasswordHash"
	reasonUserDisabled        = "Disabled"

	// conditionClientIDWaiting marks an OAuthClient that waited for its
	// client_id while another namespace held it (see decideClientID).
	conditionClientIDWaiting     = "ClientIDWaiting"
	reasonHeldInAnotherNamespace = "HeldInAnotherNamespace"

	// Reasons of the DefaultPaths condition (spec.compatibility.defaultForPaths).
	reasonDefaultPathsHeld      = "Held"
	reasonDefaultPathConflict   = "DefaultPathConflict"
	reasonDefaultPathNotAllowed = "DefaultPathNotAllowed"

	eventCreated           = "CredentialsCreated"
	eventAdopted           = "SecretAdopted"
	eventRotated           = "SecretRotated"
	eventPreviousExpired   = "PreviousSecretRemoved"
	eventRegenerated       = "CredentialsRegenerated"
	eventRepaired          = "SecretUpdated"
	eventPasswordSourceSet = "PasswordSourceLabeled"
	eventSessionsRevoked   = "SessionsRevoked"

	// Reasons of the ClientKeysReady condition (private_key_jwt keys).
	reasonClientKeysReady   = "Ready"
	reasonClientKeysMissing = "ClientKeysMissing"
	reasonClientKeysInvalid = "ClientKeysInvalid"
	eventClientKeysLabeled  = "ClientKeysLabeled"
)

// Reasons of token Secrets (status.tokenSecrets[].reason, the TokensReady
// condition) and their Events.
const (
	reasonTokensIssued     = "Ready"
	reasonTokensRefused    = "TokensRefused"
	reasonTokenSecretClash = "SecretConflict"
	reasonIssuerMissing    = "TokenServerDisabled"
	reasonTokensFailed     = "RefreshFailed"
	eventFamilyRestarted   = "RefreshTokenReestablished"
	eventTokensCleared     = "TokensCleared"
)

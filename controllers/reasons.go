package controllers

// Condition reasons and Event reasons, in one place so that status, Events and
// docs use the same words.
const (
	reasonReady               = "Ready"
	reasonClientIDConflict    = "ClientIDConflict"
	reasonUsernameConflict    = "UsernameConflict"
	reasonSecretConflict      = "SecretConflict"
	reasonSecretWriteFailed   = "SecretWriteFailed"
	reasonPasswordSecretGone  = "PasswordSecretMissing"
	reasonInvalidPasswordHash = "InvalidPasswordHash"
	reasonUserDisabled        = "Disabled"

	eventCreated           = "CredentialsCreated"
	eventAdopted           = "SecretAdopted"
	eventRotated           = "SecretRotated"
	eventPreviousExpired   = "PreviousSecretRemoved"
	eventRegenerated       = "CredentialsRegenerated"
	eventRepaired          = "SecretUpdated"
	eventConflict          = "Conflict"
	eventPasswordSourceSet = "PasswordSourceLabeled"
	eventSessionsRevoked   = "SessionsRevoked"
)

package v1alpha1

// IssuedAtStyle says whether token responses carry issued_at.
// +kubebuilder:validation:Enum=milliseconds;omit
type IssuedAtStyle string

// The issued_at styles.
const (
	// IssuedAtMilliseconds adds issued_at in Unix milliseconds (the
	// default, and what clients of RapidSOS- and Usergrid-style APIs read).
	IssuedAtMilliseconds IssuedAtStyle = "milliseconds"
	// IssuedAtOmit leaves issued_at out: a plain RFC 6749 §5.1 response.
	IssuedAtOmit IssuedAtStyle = "omit"
)

// UserObjectStyle says whether, and in which shape, a token response issued
// for a user carries a "user" object.
// +kubebuilder:validation:Enum=none;standard;usergrid
type UserObjectStyle string

// The user object styles.
const (
	// UserObjectNone sends no user object (the default).
	UserObjectNone UserObjectStyle = "none"
	// UserObjectStandard sends username, uid, email, display_name and
	// groups (what includeUserInTokenResponse sends).
	UserObjectStandard UserObjectStyle = "standard"
	// UserObjectUsergrid sends the shape Apache Usergrid SDKs read: uuid,
	// type ("user"), username, email, activated, name and created (Unix
	// milliseconds), all from the OAuthUser object.
	UserObjectUsergrid UserObjectStyle = "usergrid"
)

// ErrorStyle is the body of token endpoint errors.
// +kubebuilder:validation:Enum=rfc6749;detail
type ErrorStyle string

// The error styles.
const (
	// ErrorStyleRFC6749 is error and error_description (RFC 6749 §5.2; the
	// default).
	ErrorStyleRFC6749 ErrorStyle = "rfc6749"
	// ErrorStyleDetail adds a "detail" member holding the description, for
	// clients that read {"detail": "..."}, and keeps error and
	// error_description, so RFC 6749 clients still read the code.
	ErrorStyleDetail ErrorStyle = "detail"
)

// Compatibility shapes the token endpoint's answers for a client written
// against another server, and may name alias paths this client answers when
// a request names no client. Fields left empty take the setting of the path
// the request came on (--token-path-alias options), then the default.
type Compatibility struct {
	// IssuedAt: "milliseconds" adds issued_at (Unix milliseconds) to token
	// responses, "omit" leaves it out. Default milliseconds.
	// +optional
	IssuedAt IssuedAtStyle `json:"issuedAt,omitempty"`

	// UserObject adds a "user" object to token responses issued for a user
	// (password and authorization_code grants): "standard" or "usergrid".
	// Default none (standard when includeUserInTokenResponse is true).
	// +optional
	UserObject UserObjectStyle `json:"userObject,omitempty"`

	// ErrorStyle of token endpoint errors: "rfc6749" or "detail" (adds a
	// detail member with the description, keeping error). Errors written
	// before the client is known (an unknown client, a wrong secret) take
	// the path's style instead. Default rfc6749.
	// +optional
	ErrorStyle ErrorStyle `json:"errorStyle,omitempty"`

	// DefaultForPaths are token path aliases this client answers when a
	// request on them names no client (legacy clients that send no
	// client_id). Only paths the platform team made claimable for this
	// namespace (--token-path-alias PATH;claimable=NAMESPACES) can be
	// claimed, and the first client to hold a path keeps it: another one
	// gets the DefaultPaths condition False with reason
	// DefaultPathConflict. A confidential client is still asked for its
	// secret.
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^/[^{}\s;]*$`
	// +optional
	DefaultForPaths []string `json:"defaultForPaths,omitempty"`
}

// CompatibilityStatus is what the operator decided about spec.compatibility.
type CompatibilityStatus struct {
	// DefaultForPaths are the alias paths this client holds: the token
	// server answers requests on them that name no client as this client.
	// +listType=set
	// +optional
	DefaultForPaths []string `json:"defaultForPaths,omitempty"`
}

// ConditionDefaultPaths is True when an OAuthClient holds every path of
// spec.compatibility.defaultForPaths.
const ConditionDefaultPaths = "DefaultPaths"

// EffectiveUserObject is spec.compatibility.userObject, or standard for a
// client that set the older includeUserInTokenResponse, or "" (the path
// decides).
func (c *OAuthClient) EffectiveUserObject() UserObjectStyle {
	if c.Spec.Compatibility != nil && c.Spec.Compatibility.UserObject != "" {
		return c.Spec.Compatibility.UserObject
	}
	if c.Spec.IncludeUserInTokenResponse {
		return UserObjectStandard
	}
	return ""
}

// WantedDefaultPaths is spec.compatibility.defaultForPaths.
func (c *OAuthClient) WantedDefaultPaths() []string {
	if c.Spec.Compatibility == nil {
		return nil
	}
	return c.Spec.Compatibility.DefaultForPaths
}

// HeldDefaultPaths is status.compatibility.defaultForPaths.
func (c *OAuthClient) HeldDefaultPaths() []string {
	if c.Status.Compatibility == nil {
		return nil
	}
	return c.Status.Compatibility.DefaultForPaths
}

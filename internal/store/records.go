package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Family is the state of one refresh-token family (RFC 9700 §4.14.2): every
// token obtained by rotating the first one belongs to it, and replaying a
// superseded token revokes all of it. The JSON form is the stored form: it
// must stay readable by the previous version.
type Family struct {
	ClientUID types.UID `json:"clientUID"`
	ClientID  string    `json:"clientID"`
	UserUID   types.UID `json:"userUID"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	AuthTime  time.Time `json:"authTime"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt is the absolute end; IdleTTL ends a family unused that long.
	ExpiresAt  time.Time     `json:"expiresAt"`
	IdleTTL    time.Duration `json:"idleTTL"`
	LastUsedAt time.Time     `json:"lastUsedAt"`
	// Current is the digest of the one token that may be used; Previous the
	// digest of the token it replaced, accepted again until RotatedAt plus
	// the grace window so an honest retry of a lost answer is not a replay.
	Current   string    `json:"current"`
	Previous  string    `json:"previous,omitempty"`
	RotatedAt time.Time `json:"rotatedAt"`
	// Source is where it came from, for introspection and audits.
	Source string `json:"source,omitempty"`
}

// Expired reports whether the family reached its absolute or idle end.
func (f *Family) Expired(now time.Time) bool {
	return !now.Before(f.ExpiresAt) || (f.IdleTTL > 0 && !now.Before(f.LastUsedAt.Add(f.IdleTTL)))
}

// AuthCode is what an authorization code is bound to (RFC 6749 §4.1.3, RFC
// 7636 §4.4) and, once redeemed, what it issued, so a second use can revoke
// it. Its id is derived from a digest of the code: the store never holds a
// usable code.
type AuthCode struct {
	Digest    string    `json:"digest"`
	ClientUID types.UID `json:"clientUID"`
	UserUID   types.UID `json:"userUID"`
	// RedirectURI is where the code was sent; RedirectURIGiven tells whether
	// the request named it, which makes it required at the exchange.
	RedirectURI      string   `json:"redirectURI"`
	RedirectURIGiven bool     `json:"redirectURIGiven"`
	Scopes           []string `json:"scopes"`
	// Audience is what the user was shown and agreed to (empty in codes of
	// earlier releases); the tokens of the code never carry more.
	Audience        []string  `json:"audience,omitempty"`
	Nonce           string    `json:"nonce,omitempty"`
	Challenge       string    `json:"challenge,omitempty"`
	ChallengeMethod string    `json:"challengeMethod,omitempty"`
	AuthTime        time.Time `json:"authTime"`
	ExpiresAt       time.Time `json:"expiresAt"`
	// Set when redeemed.
	RedeemedAt      time.Time `json:"redeemedAt,omitzero"`
	FamilyID        string    `json:"familyID,omitempty"`
	AccessJTI       string    `json:"accessJTI,omitempty"`
	AccessExpiresAt time.Time `json:"accessExpiresAt,omitzero"`
}

// Redeemed reports whether the code was used.
func (c *AuthCode) Redeemed() bool { return !c.RedeemedAt.IsZero() }

// Consent is a user's remembered decision to let a client have tokens with
// scopes for audiences (OpenID Connect Core §3.1.2.4): the browser flow asks
// again only for more. It is bound to the UIDs, so a user or client
// re-created under the same name starts without consent. Its id is
// ConsentID of the two UIDs; revoking it is deleting it.
type Consent struct {
	ClientUID types.UID `json:"clientUID"`
	// ClientID is the client_id at the time, for audits.
	ClientID  string    `json:"clientID"`
	UserUID   types.UID `json:"userUID"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	GrantedAt time.Time `json:"grantedAt"`
}

// Covers reports whether the consent includes every scope and audience.
func (c *Consent) Covers(scopes, audience []string) bool {
	return subset(scopes, c.Scopes) && subset(audience, c.Audience)
}

// Add widens the consent by scopes and audience (a user who allowed more).
func (c *Consent) Add(scopes, audience []string) {
	c.Scopes = union(c.Scopes, scopes)
	c.Audience = union(c.Audience, audience)
}

// ConsentID is the id of the consent of user to client: 40 hex digits of a
// SHA-256 over both UIDs (the first length-prefixed, so no pair reads as
// another), a valid object-name suffix whatever the UIDs hold.
func ConsentID(client, user types.UID) string {
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(client))))
	h.Write([]byte(client))
	h.Write([]byte(user))
	return hex.EncodeToString(h.Sum(nil)[:20])
}

func subset(xs, of []string) bool {
	for _, x := range xs {
		if !slices.Contains(of, x) {
			return false
		}
	}
	return true
}

func union(xs, ys []string) []string {
	out := slices.Clone(xs)
	for _, y := range ys {
		if !slices.Contains(out, y) {
			out = append(out, y)
		}
	}
	return out
}

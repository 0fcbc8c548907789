package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// annotationTokenSpec records a digest of the entry the tokens were issued
// for: a change of user, scopes or audiences renews them at once.
const annotationTokenSpec = "tokenwarden.dev/token-spec"

// heldTokens is what a token Secret holds.
type heldTokens struct {
	secret              *corev1.Secret
	issuedAt, expiresAt time.Time
	refresh             string
	hasAccess           bool
	specDigest          string
}

// readHeld reads what s holds; a nil Secret holds nothing.
func readHeld(s *corev1.Secret) heldTokens {
	if s == nil {
		return heldTokens{}
	}
	return heldTokens{
		secret:     s,
		issuedAt:   parseTime(string(s.Data[contract.KeyIssuedAt])),
		expiresAt:  parseTime(string(s.Data[contract.KeyExpiresAt])),
		refresh:    string(s.Data[contract.KeyRefreshToken]),
		hasAccess:  len(s.Data[contract.KeyAccessToken]) > 0,
		specDigest: s.Annotations[annotationTokenSpec],
	}
}

// current reports whether the Secret holds tokens issued for what is
// declared now (digest), which may then be kept until they are due.
func (h heldTokens) current(digest string) bool {
	return h.secret != nil && h.hasAccess && !h.expiresAt.IsZero() && h.specDigest == digest
}

// tokenData is the Secret data of issued tokens.
func tokenData(t *contract.Tokens) map[string][]byte {
	data := map[string][]byte{
		contract.KeyAccessToken: []byte(t.AccessToken), contract.KeyTokenType: []byte(t.TokenType), contract.KeyScope: []byte(t.Scope),
		contract.KeyIssuedAt: []byte(t.IssuedAt.UTC().Format(time.RFC3339)), contract.KeyExpiresAt: []byte(t.ExpiresAt.UTC().Format(time.RFC3339)),
	}
	if t.RefreshToken != "" {
		data[contract.KeyRefreshToken] = []byte(t.RefreshToken)
	}
	return data
}

// tokenKeys are the keys a token Secret's tokens occupy; clearing removes them.
var tokenKeys = []string{contract.KeyAccessToken, contract.KeyTokenType, contract.KeyExpiresAt, contract.KeyIssuedAt, contract.KeyScope, contract.KeyRefreshToken}

// writeTokenSecret creates or updates a token Secret through applySecret;
// data nil clears the tokens. Nothing is written when nothing changed.
func (r *TokenSecretReconciler) writeTokenSecret(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, existing *corev1.Secret, data map[string][]byte, specDigest string) error {
	want := desiredSecret{
		labels:      contract.ManagedLabels(contract.KindWorkloadToken, c.Name),
		annotations: map[string]string{annotationTokenSpec: specDigest},
		data:        map[string]string{contract.KeyIssuer: r.Endpoints.Issuer, contract.KeyTokenURL: r.Endpoints.TokenURL},
	}
	for k, v := range data {
		want.data[k] = string(v)
	}
	for _, k := range tokenKeys {
		if _, ok := data[k]; !ok {
			want.remove = append(want.remove, k)
		}
	}
	_, err := applySecret(ctx, r.Client, r.Scheme, c, types.NamespacedName{Namespace: c.Namespace, Name: ts.Name}, existing, want)
	return err
}

// tokenSpecDigest identifies what the tokens were issued under: the entry,
// what the client allows, and the user's identity and state. When any of it
// changes the tokens are issued anew at once, so a client losing the grant or
// a user being disabled, deleted or re-created is acted on without waiting
// for the next refresh.
func (r *TokenSecretReconciler) tokenSpecDigest(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "user=%s\x00scopes=%s\x00aud=%s\x00", ts.User, strings.Join(ts.Scopes, " "), strings.Join(ts.Audiences, " "))
	fmt.Fprintf(h, "grants=%v\x00clientScopes=%v\x00clientAud=%v\x00public=%v\x00ttl=%v\x00", c.Spec.GrantTypes, c.Spec.Scopes, c.Spec.Audiences, c.Spec.Public, c.Spec.AccessTokenTTL)
	if ts.User != "" {
		var users v1alpha1.OAuthUserList
		if err := r.List(ctx, &users, client.InNamespace(c.Namespace), client.MatchingFields{contract.IndexUsername: ts.User}); err != nil {
			return "", fmt.Errorf("list users: %w", err)
		}
		for _, u := range users.Items {
			fmt.Fprintf(h, "uid=%s\x00disabled=%v\x00", u.UID, u.Spec.Disabled)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

const (
	// annotationTokenSpec records a digest of the entry the tokens were
	// issued for: a change of user, scopes or audiences renews them at once.
	annotationTokenSpec = "tokenwarden.dev/token-spec"
)

// Reasons of token Secrets.
const (
	reasonTokensIssued     = "Ready"
	reasonTokensRefused    = "TokensRefused"
	reasonTokenSecretClash = "SecretConflict"
	reasonIssuerMissing    = "TokenServerDisabled"
	reasonTokensFailed     = "RefreshFailed"
	eventTokensRefreshed   = "TokensRefreshed"
	eventFamilyRestarted   = "RefreshTokenReestablished"
	eventTokensCleared     = "TokensCleared"
)

// tokenRetry is how soon a failed refresh is tried again; it is shorter than
// the refresh-token grace window, so a token rotated but not written can be
// presented again as an honest retry.
const tokenRetry = 2 * time.Second

// reconcileTokenSecrets keeps every spec.tokenSecrets entry fresh and returns
// when the next one is due.
func (r *OAuthClientReconciler) reconcileTokenSecrets(ctx context.Context, c *v1alpha1.OAuthClient) (time.Duration, error) {
	if len(c.Spec.TokenSecrets) == 0 {
		c.Status.TokenSecrets = nil
		meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionTokensReady)
		r.forgetExpiries(c, nil)
		return 0, nil
	}
	now := r.Clock.Now()
	var next time.Duration
	var statuses []v1alpha1.TokenSecretStatus
	var errs []error
	notReady := []string{}
	for _, ts := range c.Spec.TokenSecrets {
		st, due, err := r.reconcileTokenSecret(ctx, c, ts, now)
		if err != nil {
			errs = append(errs, err)
		}
		statuses = append(statuses, st)
		if !st.Ready {
			notReady = append(notReady, st.Name+": "+st.Message)
		}
		if due > 0 && (next == 0 || due < next) {
			next = due
		}
	}
	c.Status.TokenSecrets = statuses
	r.forgetExpiries(c, c.Spec.TokenSecrets)
	cond := metav1.Condition{Type: v1alpha1.ConditionTokensReady, Status: metav1.ConditionTrue, Reason: reasonTokensIssued,
		Message: "every token Secret holds a valid token", ObservedGeneration: c.Generation}
	if len(notReady) > 0 {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, firstReason(statuses), strings.Join(notReady, "; ")
	}
	meta.SetStatusCondition(&c.Status.Conditions, cond)
	return next, errors.Join(errs...)
}

func firstReason(sts []v1alpha1.TokenSecretStatus) string {
	for _, s := range sts {
		if !s.Ready {
			return s.Reason
		}
	}
	return reasonTokensIssued
}

// reconcileTokenSecret renews one token Secret when due and reports its state
// and how long until it is due again.
func (r *OAuthClientReconciler) reconcileTokenSecret(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, now time.Time) (v1alpha1.TokenSecretStatus, time.Duration, error) {
	st := v1alpha1.TokenSecretStatus{Name: ts.Name}
	fail := func(reason, msg string) (v1alpha1.TokenSecretStatus, time.Duration, error) {
		st.Ready, st.Reason, st.Message = false, reason, msg
		return st, 0, nil
	}
	if ts.Name == c.EffectiveSecretName() {
		return fail(reasonTokenSecretClash, "the name is the client's credential Secret; choose another")
	}
	if r.Issuer == nil {
		return fail(reasonIssuerMissing, "the token server is not running in this manager")
	}
	key := types.NamespacedName{Namespace: c.Namespace, Name: ts.Name}
	existing, err := lookupSecret(ctx, r.Client, r.APIReader, key)
	if err != nil {
		return st, 0, err
	}
	if existing != nil && !metav1.IsControlledBy(existing, c) {
		return fail(reasonTokenSecretClash, "Secret "+ts.Name+" exists and is controlled by another object")
	}
	specDigest, err := r.tokenSpecDigest(ctx, c, ts)
	if err != nil {
		return st, 0, err
	}
	var issuedAt, expiresAt time.Time
	var refresh string
	if existing != nil {
		issuedAt, _ = time.Parse(time.RFC3339, string(existing.Data[contract.KeyIssuedAt]))
		expiresAt, _ = time.Parse(time.RFC3339, string(existing.Data[contract.KeyExpiresAt]))
		refresh = string(existing.Data[contract.KeyRefreshToken])
	}
	fresh := existing != nil && len(existing.Data[contract.KeyAccessToken]) > 0 && !expiresAt.IsZero() &&
		existing.Annotations[annotationTokenSpec] == specDigest
	if fresh {
		due := refreshPoint(c, ts, issuedAt, expiresAt)
		if now.Before(due) {
			// Nothing to renew; the metadata is still repaired.
			if err := r.writeTokenSecret(ctx, c, ts, existing, existing.Data, specDigest); err != nil {
				return st, 0, err
			}
			r.noteExpiry(c, ts.Name, expiresAt)
			st.Ready, st.Reason = true, reasonTokensIssued
			st.LastRefreshTime, st.NextRefreshTime, st.ExpiryTime = timePtr(issuedAt), timePtr(due), timePtr(expiresAt)
			return st, due.Sub(now), nil
		}
	}
	if existing != nil && existing.Annotations[annotationTokenSpec] != specDigest {
		// What the tokens were issued for changed: start over.
		refresh = ""
		r.abandon(ctx, c, existing)
	}
	tokens, restarted, err := r.obtainTokens(ctx, c, ts, refresh)
	var refused *contract.TokenRefusedError
	if errors.As(err, &refused) {
		tokenRefreshes.WithLabelValues("refused").Inc()
		if existing != nil && len(existing.Data[contract.KeyAccessToken]) > 0 {
			r.abandon(ctx, c, existing)
			if werr := r.writeTokenSecret(ctx, c, ts, existing, nil, specDigest); werr != nil {
				return st, 0, werr
			}
			r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, eventTokensCleared, "RefreshTokens", "tokens removed from Secret %s: %s", ts.Name, refused.Description)
		} else if existing == nil {
			if werr := r.writeTokenSecret(ctx, c, ts, nil, nil, specDigest); werr != nil {
				return st, 0, werr
			}
		}
		r.noteExpiry(c, ts.Name, time.Time{})
		return fail(reasonTokensRefused, refused.Description)
	}
	if err != nil {
		tokenRefreshes.WithLabelValues("error").Inc()
		st.Ready, st.Reason, st.Message = fresh && now.Before(expiresAt), reasonTokensFailed, "renewing the tokens failed; retrying"
		st.LastRefreshTime, st.ExpiryTime = timePtr(issuedAt), timePtr(expiresAt)
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, reasonTokensFailed, "RefreshTokens", "renewing the tokens of Secret %s failed: %v", ts.Name, err)
		return st, tokenRetry, nil
	}
	if restarted {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, eventFamilyRestarted, "RefreshTokens",
			"the refresh token in Secret %s no longer worked (revoked or expired); new tokens were issued for user %s", ts.Name, ts.User)
	}
	data := map[string][]byte{
		contract.KeyAccessToken: []byte(tokens.AccessToken), contract.KeyTokenType: []byte(tokens.TokenType), contract.KeyScope: []byte(tokens.Scope),
		contract.KeyIssuedAt: []byte(tokens.IssuedAt.UTC().Format(time.RFC3339)), contract.KeyExpiresAt: []byte(tokens.ExpiresAt.UTC().Format(time.RFC3339)),
	}
	if tokens.RefreshToken != "" {
		data[contract.KeyRefreshToken] = []byte(tokens.RefreshToken)
	}
	// The new tokens are written before anything relies on them. If the
	// write fails, the old refresh token is presented again within the
	// grace window (tokenRetry) and the server answers it as an honest
	// retry.
	if err := r.writeTokenSecret(ctx, c, ts, existing, data, specDigest); err != nil {
		tokenRefreshes.WithLabelValues("write-failed").Inc()
		return st, tokenRetry, err
	}
	tokenRefreshes.WithLabelValues("ok").Inc()
	r.noteExpiry(c, ts.Name, tokens.ExpiresAt)
	due := refreshPoint(c, ts, tokens.IssuedAt, tokens.ExpiresAt)
	st.Ready, st.Reason = true, reasonTokensIssued
	st.LastRefreshTime, st.NextRefreshTime, st.ExpiryTime = timePtr(tokens.IssuedAt), timePtr(due), timePtr(tokens.ExpiresAt)
	return st, max(due.Sub(now), time.Second), nil
}

// obtainTokens renews with the refresh token when there is one; when that
// family no longer works it starts a new one with the credentials the
// operator already has (restarted is then true).
func (r *OAuthClientReconciler) obtainTokens(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, refresh string) (*contract.Tokens, bool, error) {
	req := contract.TokenRequest{Client: c, User: ts.User, Scopes: ts.Scopes, Audiences: ts.Audiences}
	if ts.User == "" || refresh == "" {
		t, err := r.Issuer.IssueTokens(ctx, req)
		return t, false, err
	}
	req.RefreshToken = refresh
	t, err := r.Issuer.IssueTokens(ctx, req)
	var refused *contract.TokenRefusedError
	if !errors.As(err, &refused) || refused.Reason != contract.RefusedGrant {
		return t, false, err
	}
	req.RefreshToken = ""
	t, err = r.Issuer.IssueTokens(ctx, req)
	return t, err == nil, err
}

// abandon revokes the refresh token family of tokens no longer kept.
func (r *OAuthClientReconciler) abandon(ctx context.Context, c *v1alpha1.OAuthClient, s *corev1.Secret) {
	if rt := string(s.Data[contract.KeyRefreshToken]); rt != "" && r.Issuer != nil {
		_ = r.Issuer.RevokeRefreshToken(ctx, c, rt)
	}
}

// tokenKeys are the keys a token Secret's tokens occupy; clearing removes them.
var tokenKeys = []string{contract.KeyAccessToken, contract.KeyTokenType, contract.KeyExpiresAt, contract.KeyIssuedAt, contract.KeyScope, contract.KeyRefreshToken}

// writeTokenSecret creates or updates a token Secret through applySecret;
// data nil clears the tokens. Nothing is written when nothing changed.
func (r *OAuthClientReconciler) writeTokenSecret(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, existing *corev1.Secret, data map[string][]byte, specDigest string) error {
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
func (r *OAuthClientReconciler) tokenSpecDigest(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret) (string, error) {
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

// refreshPoint is when tokens issued at issued and expiring at expires are
// renewed: at refreshAtPercent of the lifetime, less a jitter of up to 5% of
// it derived from the client and Secret, so it is the same after a restart
// and spreads Secrets that were issued together.
func refreshPoint(c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, issued, expires time.Time) time.Time {
	life := expires.Sub(issued)
	if life <= 0 {
		return issued
	}
	pct := ts.RefreshAtPercent
	if pct <= 0 {
		pct = 80
	}
	sum := sha256.Sum256([]byte(string(c.UID) + "/" + ts.Name))
	jitter := time.Duration(binary.BigEndian.Uint64(sum[:8]) % uint64(life/20+1))
	return issued.Add(life * time.Duration(pct) / 100).Add(-jitter)
}

// Expiries of every managed token, for the smallest-remaining-lifetime gauge.
var tokenExpiries sync.Map // "ns/client/secret" → time.Time

func expiryKey(c *v1alpha1.OAuthClient, name string) string {
	return c.Namespace + "/" + c.Name + "/" + name
}

func (r *OAuthClientReconciler) noteExpiry(c *v1alpha1.OAuthClient, name string, t time.Time) {
	if t.IsZero() {
		tokenExpiries.Delete(expiryKey(c, name))
		return
	}
	tokenExpiries.Store(expiryKey(c, name), t)
}

// forgetExpiries drops entries of a client that are no longer declared.
func (r *OAuthClientReconciler) forgetExpiries(c *v1alpha1.OAuthClient, keep []v1alpha1.TokenSecret) {
	prefix := c.Namespace + "/" + c.Name + "/"
	tokenExpiries.Range(func(k, _ any) bool {
		name, ok := strings.CutPrefix(k.(string), prefix)
		if !ok {
			return true
		}
		for _, ts := range keep {
			if ts.Name == name {
				return true
			}
		}
		tokenExpiries.Delete(k)
		return true
	})
}

// forgetClient drops every expiry of a deleted client.
func forgetClient(key types.NamespacedName) {
	prefix := key.Namespace + "/" + key.Name + "/"
	tokenExpiries.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), prefix) {
			tokenExpiries.Delete(k)
		}
		return true
	})
}

// MinTokenRemaining is the smallest remaining lifetime of any managed token,
// and whether there is any.
func MinTokenRemaining(now time.Time) (time.Duration, bool) {
	var lowest time.Duration
	found := false
	tokenExpiries.Range(func(_, v any) bool {
		d := v.(time.Time).Sub(now)
		if !found || d < lowest {
			lowest, found = d, true
		}
		return true
	})
	return lowest, found
}

var tokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tokenwarden_workload_token_refreshes_total", Help: "Renewals of workload token Secrets by outcome (ok, refused, error, write-failed).",
}, []string{"outcome"})

var tokenMinRemaining = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
	Name: "tokenwarden_workload_token_min_remaining_seconds",
	Help: "Smallest remaining lifetime of any access token in a workload token Secret (NaN when there is none).",
}, func() float64 {
	d, ok := MinTokenRemaining(time.Now())
	if !ok {
		return math.NaN()
	}
	return d.Seconds()
})

func init() {
	ctrlmetrics.Registry.MustRegister(tokenRefreshes, tokenMinRemaining)
}

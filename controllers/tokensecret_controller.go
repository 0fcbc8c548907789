package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// TokenSecretReconciler keeps the Secrets of an OAuthClient's
// spec.tokenSecrets filled with fresh tokens, issued in process through the
// token server. It owns status.tokenSecrets and the TokensReady condition;
// OAuthClientReconciler owns the rest of the status.
type TokenSecretReconciler struct {
	client.Client
	// APIReader reads a Secret the cache cannot see (one whose label was
	// removed by hand).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Endpoints credentials.Endpoints
	// Issuer obtains the tokens; without it every entry reports
	// TokenServerDisabled.
	Issuer contract.TokenIssuer
	// Metrics is where the expiry gauge is registered while the manager
	// runs; default the controller-runtime registry.
	Metrics prometheus.Registerer

	// expiries feeds the expiry gauge; SetupWithManager creates it.
	expiries *tokenExpiries
}

// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients,verbs=list;watch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients/status,verbs=patch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthusers,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one OAuthClient's token Secrets and their status in line
// with its spec.tokenSecrets.
func (r *TokenSecretReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c v1alpha1.OAuthClient
	if err := r.Get(ctx, req.NamespacedName, &c); err != nil {
		if apierrors.IsNotFound(err) {
			r.expiries.forgetClient(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		// The Secrets carry owner references: garbage collection removes them.
		r.expiries.forgetClient(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if !credentialsReady(&c) {
		// Tokens are issued under the client_id OAuthClientReconciler
		// publishes; its status patch brings this client back here.
		return ctrl.Result{}, nil
	}
	before := c.DeepCopy()
	next, err := r.reconcile(ctx, &c)
	if perr := patchSharedStatus(ctx, r.Client, before, &c); perr != nil && err == nil {
		err = perr
	}
	return conflictRequeue(ctrl.Result{RequeueAfter: next}, err)
}

// credentialsReady reports whether OAuthClientReconciler finished the
// client's current generation: a client_id is published and the credential
// Secret is in place. Earlier, the tokens would be issued for a spec the
// client does not have yet (or under a client_id it is about to lose).
func credentialsReady(c *v1alpha1.OAuthClient) bool {
	ready := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionReady)
	return c.Status.ClientID != "" && ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == c.Generation
}

// reconcile keeps every spec.tokenSecrets entry fresh, sets status.tokenSecrets
// and TokensReady, and returns when the next entry is due.
func (r *TokenSecretReconciler) reconcile(ctx context.Context, c *v1alpha1.OAuthClient) (time.Duration, error) {
	key := client.ObjectKeyFromObject(c)
	r.expiries.keepOnly(key, c.Spec.TokenSecrets)
	if len(c.Spec.TokenSecrets) == 0 {
		c.Status.TokenSecrets = nil
		meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionTokensReady)
		return 0, nil
	}
	now := r.Clock.Now()
	var next time.Duration
	var errs []error
	statuses := make([]v1alpha1.TokenSecretStatus, 0, len(c.Spec.TokenSecrets))
	for _, ts := range c.Spec.TokenSecrets {
		st, due, err := r.reconcileTokenSecret(ctx, c, ts, now)
		if err != nil {
			errs = append(errs, err)
		}
		statuses = append(statuses, st)
		if due > 0 && (next == 0 || due < next) {
			next = due
		}
	}
	c.Status.TokenSecrets = statuses
	meta.SetStatusCondition(&c.Status.Conditions, tokensReadyCondition(statuses, c.Generation))
	return next, errors.Join(errs...)
}

// tokensReadyCondition summarizes the entries: True when every Secret holds a
// valid token, else False with the first failing entry's reason and every
// failing entry's message.
func tokensReadyCondition(sts []v1alpha1.TokenSecretStatus, generation int64) metav1.Condition {
	cond := metav1.Condition{Type: v1alpha1.ConditionTokensReady, Status: metav1.ConditionTrue, Reason: reasonTokensIssued,
		Message: "every token Secret holds a valid token", ObservedGeneration: generation}
	var notReady []string
	for _, s := range sts {
		if s.Ready {
			continue
		}
		if len(notReady) == 0 {
			cond.Status, cond.Reason = metav1.ConditionFalse, s.Reason
		}
		notReady = append(notReady, s.Name+": "+s.Message)
	}
	if len(notReady) > 0 {
		cond.Message = strings.Join(notReady, "; ")
	}
	return cond
}

// reconcileTokenSecret renews one token Secret when due and reports its state
// and how long until it is due again.
func (r *TokenSecretReconciler) reconcileTokenSecret(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, now time.Time) (v1alpha1.TokenSecretStatus, time.Duration, error) {
	if reason, msg := r.precheck(c, ts); reason != "" {
		return notReady(ts, reason, msg), 0, nil
	}
	existing, err := lookupSecret(ctx, r.Client, r.APIReader, types.NamespacedName{Namespace: c.Namespace, Name: ts.Name})
	if err != nil {
		return v1alpha1.TokenSecretStatus{Name: ts.Name}, 0, err
	}
	if existing != nil && !metav1.IsControlledBy(existing, c) {
		return notReady(ts, reasonTokenSecretClash, "Secret "+ts.Name+" exists and is controlled by another object"), 0, nil
	}
	digest, err := r.tokenSpecDigest(ctx, c, ts)
	if err != nil {
		return v1alpha1.TokenSecretStatus{Name: ts.Name}, 0, err
	}
	held := readHeld(existing)
	if held.current(digest) {
		d := decideRenewal(renewalInput{IssuedAt: held.issuedAt, ExpiresAt: held.expiresAt, Now: now,
			RefreshAtPercent: ts.RefreshAtPercent, Jitter: jitterSeed(c.UID, ts.Name)})
		if !d.Now {
			return r.keep(ctx, c, ts, held, digest, d.At, now)
		}
	}
	return r.renew(ctx, c, ts, held, digest, now)
}

// precheck returns why an entry cannot be served at all, or "".
func (r *TokenSecretReconciler) precheck(c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret) (reason, msg string) {
	switch {
	case ts.Name == c.EffectiveSecretName():
		return reasonTokenSecretClash, "the name is the client's credential Secret; choose another"
	case r.Issuer == nil:
		return reasonIssuerMissing, "the token server is not running in this manager"
	}
	return "", ""
}

func notReady(ts v1alpha1.TokenSecret, reason, msg string) v1alpha1.TokenSecretStatus {
	return v1alpha1.TokenSecretStatus{Name: ts.Name, Ready: false, Reason: reason, Message: msg}
}

func readyStatus(ts v1alpha1.TokenSecret, issued, due, expires time.Time) v1alpha1.TokenSecretStatus {
	return v1alpha1.TokenSecretStatus{Name: ts.Name, Ready: true, Reason: reasonTokensIssued,
		LastRefreshTime: timePtr(issued), NextRefreshTime: timePtr(due), ExpiryTime: timePtr(expires)}
}

// keep leaves tokens that are not due yet; the Secret's metadata is still
// repaired (a no-op write when nothing changed).
func (r *TokenSecretReconciler) keep(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, held heldTokens, digest string, due, now time.Time) (v1alpha1.TokenSecretStatus, time.Duration, error) {
	if err := r.writeTokenSecret(ctx, c, ts, held.secret, held.secret.Data, digest); err != nil {
		return v1alpha1.TokenSecretStatus{Name: ts.Name}, 0, err
	}
	r.expiries.note(client.ObjectKeyFromObject(c), ts.Name, held.expiresAt)
	return readyStatus(ts, held.issuedAt, due, held.expiresAt), due.Sub(now), nil
}

// renew obtains new tokens and writes them, or clears the Secret when the
// token server refuses.
func (r *TokenSecretReconciler) renew(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, held heldTokens, digest string, now time.Time) (v1alpha1.TokenSecretStatus, time.Duration, error) {
	fresh := held.current(digest)
	if held.secret != nil && held.specDigest != digest {
		// What the tokens were issued for changed: start over.
		r.abandon(ctx, c, held.secret)
		held.refresh = ""
	}
	tokens, restarted, err := r.obtainTokens(ctx, c, ts, held.refresh)
	if refused, ok := errors.AsType[*contract.TokenRefusedError](err); ok {
		tokenRefreshes.WithLabelValues("refused").Inc()
		return r.clear(ctx, c, ts, held, digest, refused)
	}
	if err != nil {
		tokenRefreshes.WithLabelValues("error").Inc()
		st := notReady(ts, reasonTokensFailed, "renewing the tokens failed; retrying")
		st.Ready = fresh && now.Before(held.expiresAt)
		st.LastRefreshTime, st.ExpiryTime = timePtr(held.issuedAt), timePtr(held.expiresAt)
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, reasonTokensFailed, "RefreshTokens", "renewing the tokens of Secret %s failed: %v", ts.Name, err)
		return st, tokenRetry, nil
	}
	if restarted {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, eventFamilyRestarted, "RefreshTokens",
			"the refresh token in Secret %s no longer worked (revoked or expired); new tokens were issued for user %s", ts.Name, ts.User)
	}
	// The new tokens are written before anything relies on them. If the
	// write fails, the old refresh token is presented again within the
	// grace window (tokenRetry) and the server answers it as an honest
	// retry.
	if err := r.writeTokenSecret(ctx, c, ts, held.secret, tokenData(tokens), digest); err != nil {
		tokenRefreshes.WithLabelValues("write-failed").Inc()
		return v1alpha1.TokenSecretStatus{Name: ts.Name}, tokenRetry, err
	}
	tokenRefreshes.WithLabelValues("ok").Inc()
	r.expiries.note(client.ObjectKeyFromObject(c), ts.Name, tokens.ExpiresAt)
	due := refreshPoint(tokens.IssuedAt, tokens.ExpiresAt, ts.RefreshAtPercent, jitterSeed(c.UID, ts.Name))
	return readyStatus(ts, tokens.IssuedAt, due, tokens.ExpiresAt), max(due.Sub(now), time.Second), nil
}

// clear removes the tokens of a Secret the token server will not renew (the
// client lost the grant, the user was disabled or deleted), revoking its
// refresh token, and creates the Secret empty when there is none yet.
func (r *TokenSecretReconciler) clear(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, held heldTokens, digest string, refused *contract.TokenRefusedError) (v1alpha1.TokenSecretStatus, time.Duration, error) {
	switch {
	case held.hasAccess:
		r.abandon(ctx, c, held.secret)
		if err := r.writeTokenSecret(ctx, c, ts, held.secret, nil, digest); err != nil {
			return v1alpha1.TokenSecretStatus{Name: ts.Name}, 0, err
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, eventTokensCleared, "RefreshTokens", "tokens removed from Secret %s: %s", ts.Name, refused.Description)
	case held.secret == nil:
		if err := r.writeTokenSecret(ctx, c, ts, nil, nil, digest); err != nil {
			return v1alpha1.TokenSecretStatus{Name: ts.Name}, 0, err
		}
	}
	r.expiries.note(client.ObjectKeyFromObject(c), ts.Name, time.Time{})
	return notReady(ts, reasonTokensRefused, refused.Description), 0, nil
}

// obtainTokens renews with the refresh token when there is one; when that
// family no longer works it starts a new one with the credentials the
// operator already has (restarted is then true).
func (r *TokenSecretReconciler) obtainTokens(ctx context.Context, c *v1alpha1.OAuthClient, ts v1alpha1.TokenSecret, refresh string) (*contract.Tokens, bool, error) {
	req := contract.TokenRequest{Client: c, User: ts.User, Scopes: ts.Scopes, Audiences: ts.Audiences}
	if ts.User == "" || refresh == "" {
		t, err := r.Issuer.IssueTokens(ctx, req)
		return t, false, err
	}
	req.RefreshToken = refresh
	t, err := r.Issuer.IssueTokens(ctx, req)
	if refused, ok := errors.AsType[*contract.TokenRefusedError](err); !ok || refused.Reason != contract.RefusedGrant {
		return t, false, err
	}
	req.RefreshToken = ""
	t, err = r.Issuer.IssueTokens(ctx, req)
	return t, err == nil, err
}

// abandon revokes the refresh token family of tokens no longer kept. It is
// best effort: the family expires by itself, and the Collector removes it.
func (r *TokenSecretReconciler) abandon(ctx context.Context, c *v1alpha1.OAuthClient, s *corev1.Secret) {
	if rt := string(s.Data[contract.KeyRefreshToken]); rt != "" && r.Issuer != nil {
		_ = r.Issuer.RevokeRefreshToken(ctx, c, rt)
	}
}

// SetupWithManager registers the reconciler. It is triggered by the client
// (spec, and the status OAuthClientReconciler publishes), by its token
// Secrets (an edit or deletion by hand is repaired), and by the users its
// entries name, so disabling or deleting a user clears their tokens at once.
// The expiry gauge is exported while the manager runs.
func (r *TokenSecretReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.expiries = newTokenExpiries(r.Clock)
	if r.Metrics == nil {
		r.Metrics = ctrlmetrics.Registry
	}
	if err := mgr.Add(registeredWhileRunning{registry: r.Metrics, collector: r.expiries}); err != nil {
		return fmt.Errorf("add expiry gauge: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.OAuthClient{}).
		Owns(&corev1.Secret{}).
		Watches(&v1alpha1.OAuthUser{}, handler.EnqueueRequestsFromMapFunc(r.clientsWithTokensOf)).
		Named("tokensecret").
		Complete(r)
}

// clientsWithTokensOf maps a user to the clients of its namespace that keep a
// token Secret for it, so that disabling or deleting the user clears them.
func (r *TokenSecretReconciler) clientsWithTokensOf(ctx context.Context, o client.Object) []reconcile.Request {
	u := o.(*v1alpha1.OAuthUser)
	var list v1alpha1.OAuthClientList
	if err := r.List(ctx, &list, client.InNamespace(u.Namespace)); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range list.Items {
		for _, ts := range c.Spec.TokenSecrets {
			if ts.User != "" && (ts.User == u.EffectiveUsername() || ts.User == u.Status.Username) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
				break
			}
		}
	}
	return reqs
}

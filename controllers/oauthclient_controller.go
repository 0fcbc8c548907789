package controllers

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// OAuthClientReconciler turns an OAuthClient into a credential Secret holding
// its client_id and, for confidential clients, a generated client_secret that
// it rotates on schedule. The token Secrets of spec.tokenSecrets are
// TokenSecretReconciler's; the two share the status (see patchSharedStatus).
type OAuthClientReconciler struct {
	client.Client
	// APIReader reads a Secret the cache cannot see (one to adopt, or one
	// whose label was removed by hand).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Endpoints credentials.Endpoints
	// TokenPaths are the --token-path-alias entries: which paths a client
	// of which namespace may claim as its default.
	TokenPaths []contract.TokenPath
}

// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients,verbs=list;watch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthclients/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list;watch

// Reconcile brings one OAuthClient's Secret and status in line with its spec.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c v1alpha1.OAuthClient
	if err := r.Get(ctx, req.NamespacedName, &c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		// The Secrets carry owner references: garbage collection removes them.
		return ctrl.Result{}, nil
	}
	before := c.DeepCopy()
	res, err := r.reconcile(ctx, &c)
	if err == nil {
		err = r.reconcileDefaultPaths(ctx, &c)
	}
	if perr := patchSharedStatus(ctx, r.Client, before, &c); perr != nil && err == nil {
		err = perr
	}
	return conflictRequeue(res, err)
}

func (r *OAuthClientReconciler) reconcile(ctx context.Context, c *v1alpha1.OAuthClient) (ctrl.Result, error) {
	prevReason := readyReason(c.Status.Conditions)
	id := c.EffectiveClientID()
	reason, msg, err := r.clientIDProblem(ctx, c, id)
	if err != nil {
		return ctrl.Result{}, err
	}
	if reason != "" {
		// Without status.clientID the token server does not find the
		// client: a refused or contested id authenticates nobody.
		c.Status.ClientID = ""
		warnOnce(r.Recorder, c, prevReason, reason, msg)
		setReady(&c.Status.Conditions, c.Generation, false, reason, msg)
		return ctrl.Result{}, nil
	}
	if err := r.reconcileClientKeys(ctx, c); err != nil {
		return ctrl.Result{}, err
	}
	requeue, err := r.reconcileSecret(ctx, c, id)
	var conflict *secretConflictError
	if errors.As(err, &conflict) {
		warnOnce(r.Recorder, c, prevReason, reasonSecretConflict, conflict.message)
		setReady(&c.Status.Conditions, c.Generation, false, reasonSecretConflict, conflict.message)
		return ctrl.Result{}, nil
	}
	if err != nil {
		setReady(&c.Status.Conditions, c.Generation, false, reasonSecretWriteFailed, "could not write the credential Secret; retrying")
		return ctrl.Result{}, err
	}
	c.Status.ClientID = id
	c.Status.SecretName = c.EffectiveSecretName()
	c.Status.ObservedGeneration = c.Generation
	setReady(&c.Status.Conditions, c.Generation, true, reasonReady, "credentials are in Secret "+c.Status.SecretName)
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// reconcileSecret writes the credential Secret and the rotation times into
// status. It returns when to come back for the next rotation step.
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, c *v1alpha1.OAuthClient, id string) (time.Duration, error) {
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.EffectiveSecretName()}
	existing, err := lookupSecret(ctx, r.Client, r.APIReader, key)
	if err != nil {
		return 0, err
	}
	// Refuse before planning: the plan reads the Secret and sets status.
	if err := checkWritable(existing, c, r.Scheme); err != nil {
		return 0, err
	}
	now := r.Clock.Now().UTC().Truncate(time.Second)
	labels, annotations := templateMetadata(c.Spec.SecretTemplate, contract.ManagedLabels(contract.KindClient, c.Name))
	want := desiredSecret{labels: labels, annotations: annotations, data: map[string]string{
		contract.KeyClientID: id,
		contract.KeyIssuer:   r.Endpoints.Issuer,
		contract.KeyTokenURL: r.Endpoints.TokenURL,
		contract.KeyJWKSURL:  r.Endpoints.JWKSURL,
		contract.KeyScope:    strings.Join(c.Spec.Scopes, " "),
	}}
	var plan secretPlan
	if !c.HasStaticSecret() {
		// A public client, or one that authenticates only with a
		// ServiceAccount token or private_key_jwt: no static secret.
		want.remove = []string{contract.KeyClientSecret, contract.KeyClientSecretPrevious, contract.KeyClientSecretPreviousExpireAt}
		c.Status.LastSecretRotationTime, c.Status.NextSecretRotationTime, c.Status.PreviousSecretExpiryTime = nil, nil, nil
	} else if plan, err = planClientSecret(now, c, existing, &want); err != nil {
		return 0, err
	}
	wrote, err := applySecret(ctx, r.Client, r.Scheme, c, key, existing, want)
	if err != nil || !wrote {
		return plan.requeueAfter, err
	}
	for _, e := range plan.events {
		r.Recorder.Eventf(c, nil, e.kind, e.reason, "Reconcile", "%s", e.note)
	}
	if len(plan.events) == 0 && existing != nil {
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, eventRepaired, "Reconcile", "Secret %s was brought back in line with the OAuthClient (a spec change or an edit by hand)", key.Name)
	}
	return plan.requeueAfter, nil
}

// secretPlan is what planClientSecret decided, for Events and scheduling.
type secretPlan struct {
	events       []event
	requeueAfter time.Duration
}

type event struct{ kind, reason, note string }

// planClientSecret fills in the client_secret part of want: it keeps the
// secret the Secret holds (which makes adoption work), generates one when there
// is none, rotates it on schedule and drops the previous one after the overlap.
func planClientSecret(now time.Time, c *v1alpha1.OAuthClient, existing *corev1.Secret, want *desiredSecret) (secretPlan, error) {
	var p secretPlan
	current := secretString(existing, contract.KeyClientSecret)
	previousKeys := []string{contract.KeyClientSecretPrevious, contract.KeyClientSecretPreviousExpireAt}
	sched := readSecretSchedule(existing, c, previousKeys)
	switch {
	case current == "" && c.Status.LastSecretRotationTime != nil:
		p.events = append(p.events, event{corev1.EventTypeWarning, eventRegenerated,
			"the client secret was deleted from its Secret and cannot be recovered; a new one was generated, workloads must use it"})
		sched = secretSchedule{rotatedAt: now}
	case current == "":
		p.events = append(p.events, event{corev1.EventTypeNormal, eventCreated, "generated client credentials in Secret " + c.EffectiveSecretName()})
		sched = secretSchedule{rotatedAt: now}
	case existing != nil && !metav1.IsControlledBy(existing, c):
		p.events = append(p.events, event{corev1.EventTypeNormal, eventAdopted, "adopted the client_secret already in Secret " + existing.Name})
	}
	if current == "" {
		s, err := credentials.RandomString(credentials.ClientSecretBytes)
		if err != nil {
			return p, err
		}
		current = s
	}
	if sched.rotatedAt.IsZero() {
		sched.rotatedAt = now
	}
	d := decideSecretRotation(now, c.Spec.SecretRotation, sched)
	previous := ""
	if sched.hasPrevious {
		previous = secretString(existing, contract.KeyClientSecretPrevious)
	}
	if d.rotate {
		next, err := credentials.RandomString(credentials.ClientSecretBytes)
		if err != nil {
			return p, err
		}
		previous, current, sched.rotatedAt = current, next, now
		p.events = append(p.events, event{corev1.EventTypeNormal, eventRotated, "rotated the client secret; the previous one stays valid until " + d.previousExpiresAt.Format(time.RFC3339)})
	}
	want.data[contract.KeyClientSecret] = current
	want.annotations[contract.AnnotationSecretRotatedAt] = sched.rotatedAt.Format(time.RFC3339)
	if d.previousExpiresAt.IsZero() || d.dropPrevious {
		want.remove = previousKeys
		if sched.hasPrevious && !d.rotate {
			p.events = append(p.events, event{corev1.EventTypeNormal, eventPreviousExpired, "the overlap ended: client_secret_previous no longer works and was removed"})
		}
	} else {
		want.data[contract.KeyClientSecretPrevious] = previous
		want.data[contract.KeyClientSecretPreviousExpireAt] = d.previousExpiresAt.Format(time.RFC3339)
	}
	c.Status.LastSecretRotationTime = timePtr(sched.rotatedAt)
	c.Status.NextSecretRotationTime = timePtr(d.nextRotation)
	c.Status.PreviousSecretExpiryTime = timePtr(d.previousExpiresAt)
	p.requeueAfter = d.requeueAfter
	return p, nil
}

// readSecretSchedule reads the rotation state the Secret records. Only a
// previous secret Tokenwarden wrote is its to expire and remove; one an
// adopted Secret brought along stays its writer's.
func readSecretSchedule(existing *corev1.Secret, c *v1alpha1.OAuthClient, previousKeys []string) secretSchedule {
	sched := secretSchedule{}
	if ownedKeys(existing, c, previousKeys).Has(contract.KeyClientSecretPrevious) {
		sched.hasPrevious = secretString(existing, contract.KeyClientSecretPrevious) != ""
		sched.previousExpiresAt = parseTime(secretString(existing, contract.KeyClientSecretPreviousExpireAt))
	}
	if existing != nil {
		sched.rotatedAt = parseTime(existing.Annotations[contract.AnnotationSecretRotatedAt])
	}
	return sched
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}

// SetupWithManager registers the reconciler: it owns the credential Secrets
// (an edit or deletion by hand is repaired), watches other clients, so a
// client_id freed by a deletion is decided again at once, and watches
// Namespaces, whose annotation and existence decide which ids a namespace
// may use (RBAC: namespaces get, list, watch).
func (r *OAuthClientReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.OAuthClient{}).
		Owns(&corev1.Secret{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfKeyObject)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfKeyObject)).
		Watches(&v1alpha1.OAuthClient{}, handler.EnqueueRequestsFromMapFunc(r.sameClientID)).
		Watches(&v1alpha1.OAuthClient{}, handler.EnqueueRequestsFromMapFunc(r.samePaths)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfNamespacePolicy),
			builder.WithPredicates(clientIDPolicyChanged())).
		Named("oauthclient").
		Complete(r)
}

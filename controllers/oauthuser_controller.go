package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/password"
)

// OAuthUserReconciler turns an OAuthUser into a credential Secret and keeps its
// password source usable by the token server.
type OAuthUserReconciler struct {
	client.Client
	// APIReader reads a Secret the cache cannot see: a referenced password
	// Secret before it carries the label that brings it into the cache, or a
	// credential Secret to adopt.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Endpoints credentials.Endpoints
	// Namespace is the operator's, where the token server keeps refresh
	// families (labelled with the user's namespace and UID).
	Namespace string
}

// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthusers,verbs=list;watch
// +kubebuilder:rbac:groups=oauth.tokenwarden.dev,resources=oauthusers/status,verbs=patch

// Reconcile brings one OAuthUser's Secret and status in line with its spec.
func (r *OAuthUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var u v1alpha1.OAuthUser
	if err := r.Get(ctx, req.NamespacedName, &u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !u.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := u.DeepCopy()
	res, err := r.reconcile(ctx, &u)
	if perr := patchStatus(ctx, r.Client, before, &u); perr != nil && err == nil {
		err = perr
	}
	return conflictRequeue(res, err)
}

// passwordSecretRetry is how soon a user whose password Secret is missing is
// looked at again.
const passwordSecretRetry = 5 * time.Second

// userProblem is a reason the user cannot sign in that a person must fix.
type userProblem struct{ reason, message string }

func (p *userProblem) Error() string { return p.message }

func (r *OAuthUserReconciler) reconcile(ctx context.Context, u *v1alpha1.OAuthUser) (ctrl.Result, error) {
	prevReason := readyReason(u.Status.Conditions)
	err := r.checkUsername(ctx, u)
	var material string
	if err == nil {
		material, err = r.checkPasswordSource(ctx, u)
	}
	if err == nil {
		err = r.reconcileSecret(ctx, u, material)
	}
	var problem *userProblem
	if errors.As(err, &problem) {
		if problem.reason == reasonUsernameConflict {
			u.Status.Username = ""
		}
		warnOnce(r.Recorder, u, prevReason, problem.reason, problem.message)
		setReady(&u.Status.Conditions, u.Generation, false, problem.reason, problem.message)
		if problem.reason == reasonPasswordSecretGone {
			// A Secret that does not exist yet carries no label, so no watch
			// event will announce it: look again shortly.
			return ctrl.Result{RequeueAfter: passwordSecretRetry}, nil
		}
		return ctrl.Result{}, nil
	}
	if err != nil {
		setReady(&u.Status.Conditions, u.Generation, false, reasonSecretWriteFailed, "could not write the credential Secret; retrying")
		return ctrl.Result{}, err
	}
	u.Status.Username = u.EffectiveUsername()
	u.Status.SecretName = u.EffectiveSecretName()
	u.Status.PasswordSource = u.PasswordSourceKind()
	u.Status.Disabled = u.Spec.Disabled
	u.Status.ObservedGeneration = u.Generation
	if u.Spec.Disabled {
		// Disabling ends the user's sessions for good: re-enabling the
		// user later must not bring old refresh tokens back.
		n, err := r.revokeFamilies(ctx, u)
		if err != nil {
			return ctrl.Result{}, err
		}
		if n > 0 {
			r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, eventSessionsRevoked, "Disable", "the user is disabled: %d refresh token families revoked", n)
		}
		setReady(&u.Status.Conditions, u.Generation, false, reasonUserDisabled, "the user is disabled: no new tokens are issued and its refresh tokens no longer work")
	} else {
		setReady(&u.Status.Conditions, u.Generation, true, reasonReady, "the user can sign in; credentials are in Secret "+u.Status.SecretName)
	}
	return ctrl.Result{}, nil
}

// checkUsername fails when an older user of the namespace has the username.
func (r *OAuthUserReconciler) checkUsername(ctx context.Context, u *v1alpha1.OAuthUser) error {
	var list v1alpha1.OAuthUserList
	name := u.EffectiveUsername()
	if err := r.List(ctx, &list, client.InNamespace(u.Namespace), client.MatchingFields{contract.IndexWantedUsername: name}); err != nil {
		return fmt.Errorf("list users wanting username: %w", err)
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != u.UID && o.DeletionTimestamp.IsZero() && takesPrecedence(o, o.Status.Username == name, u, u.Status.Username == name) {
			return &userProblem{reasonUsernameConflict, fmt.Sprintf("username %q is already used by OAuthUser %s in this namespace", name, o.Name)}
		}
	}
	return nil
}

// checkPasswordSource makes sure the password the spec names exists and can be
// verified, and labels a referenced Secret so the cache (and this controller's
// watch) sees it. It returns what the password is known by: the hash, the
// referenced Secret's value, or "" for a generated password (reconcileSecret
// knows that one).
func (r *OAuthUserReconciler) checkPasswordSource(ctx context.Context, u *v1alpha1.OAuthUser) (string, error) {
	switch u.PasswordSourceKind() {
	case v1alpha1.PasswordHash:
		if err := password.ParseHash(u.Spec.Password.Hash); err != nil {
			return "", &userProblem{reasonInvalidPasswordHash, "spec.password.hash cannot be used: " + err.Error()}
		}
		return u.Spec.Password.Hash, nil
	case v1alpha1.PasswordFromSecret:
		ref := u.Spec.Password.SecretRef
		key := types.NamespacedName{Namespace: u.Namespace, Name: ref.Name}
		s, err := lookupSecret(ctx, r.Client, r.APIReader, key)
		if err != nil {
			return "", err
		}
		if s == nil || len(s.Data[refKey(ref)]) == 0 {
			return "", &userProblem{reasonPasswordSecretGone, fmt.Sprintf("Secret %s with key %q, named in spec.password.secretRef, does not exist", ref.Name, refKey(ref))}
		}
		return string(s.Data[refKey(ref)]), r.labelPasswordSource(ctx, u, s)
	}
	return "", nil
}

// refKey is the key of the referenced Secret that holds the password.
func refKey(ref *v1alpha1.PasswordSecretRef) string {
	if ref.Key == "" {
		return contract.KeyPassword
	}
	return ref.Key
}

// labelPasswordSource adds the label that brings the user's own Secret into
// the manager's cache; nothing else of it is changed.
func (r *OAuthUserReconciler) labelPasswordSource(ctx context.Context, u *v1alpha1.OAuthUser, s *corev1.Secret) error {
	if _, ok := s.Labels[contract.LabelKind]; ok {
		return nil
	}
	patched := s.DeepCopy()
	patched.Labels = mergeStrings(patched.Labels, map[string]string{contract.LabelKind: contract.KindPasswordSource})
	if err := r.Patch(ctx, patched, client.MergeFrom(s)); err != nil {
		return fmt.Errorf("label password secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, eventPasswordSourceSet, "Reconcile",
		"labeled Secret %s with %s=%s so that changes to it take effect", s.Name, contract.LabelKind, contract.KindPasswordSource)
	return nil
}

// reconcileSecret writes the user's credential Secret: always the username and
// endpoints, the password only when Tokenwarden generated it, and the record
// of the password's generation (reconcilePasswordGeneration). material is
// what checkPasswordSource returned.
func (r *OAuthUserReconciler) reconcileSecret(ctx context.Context, u *v1alpha1.OAuthUser, material string) error {
	key := types.NamespacedName{Namespace: u.Namespace, Name: u.EffectiveSecretName()}
	existing, err := lookupSecret(ctx, r.Client, r.APIReader, key)
	if err != nil {
		return err
	}
	var conflict *secretConflictError
	if err := checkWritable(existing, u, r.Scheme); errors.As(err, &conflict) {
		return &userProblem{reasonSecretConflict, conflict.message}
	} else if err != nil {
		return err
	}
	labels, annotations := templateMetadata(u.Spec.SecretTemplate, contract.ManagedLabels(contract.KindUser, u.Name))
	want := desiredSecret{labels: labels, annotations: annotations, data: map[string]string{
		contract.KeyUsername: u.EffectiveUsername(),
		contract.KeyIssuer:   r.Endpoints.Issuer,
		contract.KeyTokenURL: r.Endpoints.TokenURL,
		contract.KeyJWKSURL:  r.Endpoints.JWKSURL,
	}}
	var ev *event
	if u.PasswordSourceKind() == v1alpha1.PasswordGenerated {
		pw := secretString(existing, contract.KeyPassword)
		if pw == "" {
			if pw, err = credentials.RandomString(credentials.PasswordBytes); err != nil {
				return err
			}
			ev = &event{corev1.EventTypeNormal, eventCreated, "generated a password in Secret " + key.Name}
			if u.Status.PasswordSource == v1alpha1.PasswordGenerated {
				ev = &event{corev1.EventTypeWarning, eventRegenerated, "the generated password was deleted from its Secret and cannot be recovered; a new one was generated"}
			}
		}
		want.data[contract.KeyPassword] = pw
		material = pw
	} else {
		// A password Tokenwarden did not generate never lands in its
		// Secret; one it generated earlier goes. A password key someone
		// else wrote is not Tokenwarden's to remove (see ownedKeys).
		want.remove = []string{contract.KeyPassword}
	}
	gen, record, err := r.reconcilePasswordGeneration(ctx, u, existing, material, ev != nil && ev.reason == eventRegenerated)
	if err != nil {
		return err
	}
	want.annotations[annotationPasswordRecord] = record
	wrote, err := applySecret(ctx, r.Client, r.Scheme, u, key, existing, want)
	if errors.As(err, &conflict) {
		return &userProblem{reasonSecretConflict, conflict.message}
	}
	if err != nil {
		return err
	}
	u.Status.PasswordGeneration = gen
	if !wrote {
		return nil
	}
	r.secretWritten(u, key.Name, existing, want, ev)
	return nil
}

// secretWritten records an Event for a write of the credential Secret: ev
// when the write had its own, else whether it was created or repaired.
func (r *OAuthUserReconciler) secretWritten(u *v1alpha1.OAuthUser, name string, existing *corev1.Secret, want desiredSecret, ev *event) {
	switch {
	case ev != nil:
		r.Recorder.Eventf(u, nil, ev.kind, ev.reason, "Reconcile", "%s", ev.note)
	case existing == nil:
		r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, eventCreated, "Reconcile", "wrote credential Secret %s", name)
	case existing.Annotations[annotationPasswordRecord] != want.annotations[annotationPasswordRecord]:
		// A new password record is no repair: a change had its own Event,
		// and a first record (after an upgrade) needs none.
	default:
		r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, eventRepaired, "Reconcile", "Secret %s was brought back in line with the OAuthUser (a spec change or an edit by hand)", name)
	}
}

// SetupWithManager registers the reconciler: it owns the credential Secrets,
// follows the user's own password Secret, and watches users of the namespace
// so a username freed by a deletion goes to the next claimant at once.
func (r *OAuthUserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.OAuthUser{}).
		Owns(&corev1.Secret{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersOfPasswordSecret)).
		Watches(&v1alpha1.OAuthUser{}, handler.EnqueueRequestsFromMapFunc(r.sameUsername)).
		Named("oauthuser").
		Complete(r)
}

func (r *OAuthUserReconciler) usersOfPasswordSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return r.usersMatching(ctx, o.GetNamespace(), contract.IndexPasswordSecret, o.GetName(), "")
}

func (r *OAuthUserReconciler) sameUsername(ctx context.Context, o client.Object) []reconcile.Request {
	u := o.(*v1alpha1.OAuthUser)
	reqs := r.usersMatching(ctx, u.Namespace, contract.IndexWantedUsername, u.EffectiveUsername(), u.UID)
	if u.Status.Username != "" && u.Status.Username != u.EffectiveUsername() {
		reqs = append(reqs, r.usersMatching(ctx, u.Namespace, contract.IndexWantedUsername, u.Status.Username, u.UID)...)
	}
	return reqs
}

func (r *OAuthUserReconciler) usersMatching(ctx context.Context, ns, field, value string, except types.UID) []reconcile.Request {
	var list v1alpha1.OAuthUserList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{field: value}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if list.Items[i].UID != except {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=delete

// revokeFamilies deletes the refresh-token families issued to u and says how
// many: those in the operator namespace labelled with u's namespace and UID,
// and any the previous release kept in u's namespace (owned by u) not moved
// yet, which the migration would otherwise bring back.
func (r *OAuthUserReconciler) revokeFamilies(ctx context.Context, u *v1alpha1.OAuthUser) (int, error) {
	var list, legacy corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(r.Namespace), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily,
		contract.LabelRecordNamespace: u.Namespace, contract.LabelRecordUserUID: string(u.UID)}); err != nil {
		return 0, fmt.Errorf("list refresh families: %w", err)
	}
	if err := r.List(ctx, &legacy, client.InNamespace(u.Namespace), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily}); err != nil {
		return 0, fmt.Errorf("list refresh families of the previous release: %w", err)
	}
	for _, s := range legacy.Items {
		for _, ref := range s.OwnerReferences {
			if ref.UID == u.UID {
				list.Items = append(list.Items, s)
				break
			}
		}
	}
	n := 0
	for i := range list.Items {
		s := &list.Items[i]
		if err := r.Delete(ctx, s, client.Preconditions{UID: &s.UID}); err != nil && !apierrors.IsNotFound(err) {
			return n, fmt.Errorf("revoke refresh family %s: %w", s.Name, err)
		}
		n++
	}
	return n, nil
}

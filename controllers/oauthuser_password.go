package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// A password change (a new spec.password.hash, a new value in the referenced
// Secret, a regenerated password) ends what the old password opened: the
// user's refresh-token families are revoked here, and status.passwordGeneration
// goes up, which ends browser sessions signed in before (the token server
// compares it with the generation a session recorded).
//
// Noticing a change needs a record of the password. It is a digest, kept as
// an annotation on the user's credential Secret, never in the OAuthUser: a
// digest of a password someone chose can be guessed against offline, and
// whoever reads that Secret can read the password (or the referenced Secret
// beside it) anyway. The record carries the generation too, so a status
// patch that failed after the Secret was written is repaired from it.

// annotationPasswordRecord holds "<generation>.<digest>" of the user's
// password. Under the reserved prefix, so a secretTemplate cannot set it.
const annotationPasswordRecord = "tokenwarden.dev/password-record"

// passwordDigest names the password of kind known by material (a hash, a
// referenced Secret's value, a generated password).
func passwordDigest(kind v1alpha1.PasswordSourceKind, material string) string {
	sum := sha256.Sum256([]byte(string(kind) + "\x00" + material))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// passwordRecord is the annotation value of generation gen and digest.
func passwordRecord(gen int64, digest string) string {
	return strconv.FormatInt(gen, 10) + "." + digest
}

// nextPasswordGeneration decides the password generation from the record on
// the credential Secret ("" when there is none), the generation in status,
// the current digest, and whether the password was just regenerated. The
// same digest keeps the generation; another one is a change. Without a
// record, a user counted before (its record was lost with the Secret) or a
// regenerated password is a change, since nothing tells the old password
// was the same; a user never counted (new, or reconciled by a release
// before records) starts at its status generation.
func nextPasswordGeneration(record string, statusGen int64, digest string, regenerated bool) (gen int64, changed bool) {
	genText, recorded, ok := strings.Cut(record, ".")
	recGen, err := strconv.ParseInt(genText, 10, 64)
	if !ok || err != nil || recGen < 0 {
		if statusGen > 0 || regenerated {
			return statusGen + 1, true
		}
		return statusGen, false
	}
	base := max(recGen, statusGen)
	if recorded == digest && !regenerated {
		return base, false
	}
	return base + 1, true
}

// reconcilePasswordGeneration returns the password generation and its
// record for the credential Secret; the caller sets the generation in
// status once the record is written. On a change it revokes the user's
// refresh-token families first, so a failure leaves the old record and the
// next reconcile tries again.
func (r *OAuthUserReconciler) reconcilePasswordGeneration(ctx context.Context, u *v1alpha1.OAuthUser, existing *corev1.Secret, material string, regenerated bool) (int64, string, error) {
	var record string
	if existing != nil {
		record = existing.Annotations[annotationPasswordRecord]
	}
	digest := passwordDigest(u.PasswordSourceKind(), material)
	gen, changed := nextPasswordGeneration(record, u.Status.PasswordGeneration, digest, regenerated)
	if changed {
		n, err := r.revokeFamilies(ctx, u)
		if err != nil {
			return 0, "", err
		}
		r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, eventSessionsRevoked, "PasswordChange",
			"the password changed: browser sessions signed in before end and %d refresh token families were revoked", n)
	}
	return gen, passwordRecord(gen, digest), nil
}

package store

import (
	"context"
	"errors"
)

// ErrReviewUnavailable: the API server could not answer a token review (it
// is down, or the request timed out). It says nothing of the token.
var ErrReviewUnavailable = errors.New("token review unavailable")

// ReviewedToken is what the API server vouched for of a ServiceAccount
// token: who it is and for which of the asked audiences it is valid.
type ReviewedToken struct {
	// Username is "system:serviceaccount:<namespace>:<name>".
	Username string
	// UID is the ServiceAccount's UID.
	UID string
	// Audiences are the asked audiences the token is valid for.
	Audiences []string
	// PodName is set when the token is bound to a pod.
	PodName string
}

// TokenReviewer asks the API server whether a ServiceAccount token is
// authentic and valid for one of audiences (the TokenReview API). It keeps
// no cache: the token server caches positive answers.
type TokenReviewer interface {
	// Review returns ErrNotFound when the API server did not authenticate
	// the token (forged, expired, wrong audience, its ServiceAccount or
	// bound pod deleted), ErrReviewUnavailable when it could not answer.
	Review(ctx context.Context, token string, audiences []string) (*ReviewedToken, error)
}

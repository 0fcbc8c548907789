package kubestore

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// The token server checks ServiceAccount client assertions with the
// TokenReview API; creating a review is the only right it needs for that.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

// reviewer is the store.TokenReviewer over the TokenReview API. Every call is
// one request to the API server; the token server caches positive answers.
type reviewer struct {
	writer client.Client
}

// NewReviewer returns a TokenReviewer that creates TokenReviews through c.
func NewReviewer(c client.Client) store.TokenReviewer { return &reviewer{writer: c} }

// Review asks the API server about token for audiences. The API server
// checks the signature, expiry, audience and that the ServiceAccount (and
// the pod or secret the token is bound to) still exists.
func (r *reviewer) Review(ctx context.Context, token string, audiences []string) (*store.ReviewedToken, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
	if err := r.writer.Create(ctx, tr); err != nil {
		if apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) {
			return nil, store.ErrNotFound
		}
		// The error never holds the token: the API server does not echo it.
		return nil, fmt.Errorf("%w: create token review: %v", store.ErrReviewUnavailable, err)
	}
	st := tr.Status
	if !st.Authenticated || st.Error != "" {
		return nil, store.ErrNotFound
	}
	rt := &store.ReviewedToken{Username: st.User.Username, UID: st.User.UID, Audiences: st.Audiences}
	if pod := st.User.Extra["authentication.kubernetes.io/pod-name"]; len(pod) == 1 {
		rt.PodName = pod[0]
	}
	return rt, nil
}

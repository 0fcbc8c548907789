package tokenserver

import (
	"context"
	"net/http"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// clientCredentialsGrant is RFC 6749 §4.4: a confidential client acting for
// itself. It never issues a refresh token (§4.4.3).
type clientCredentialsGrant struct{ s *Server }

func (g clientCredentialsGrant) handle(ctx context.Context, req *tokenRequest) (*issued, error) {
	if req.client.Object.Spec.Public {
		return nil, oauth.NewError(http.StatusBadRequest, oauth.ErrUnauthorizedClient, "a public client cannot use client_credentials")
	}
	return g.s.issue(ctx, req, nil, issueOptions{})
}

package tokenserver

import (
	"context"
	"net/http"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// authenticatePrivateKeyJWT is private_key_jwt (RFC 7523 §2.2, OpenID
// Connect Core §9).
func (s *Server) authenticatePrivateKeyJWT(ctx context.Context, r *http.Request, tok *jwt.JSONWebToken, claims *jwt.Claims, id string, rt route) (*store.Client, error) {
	return nil, errAssertionRefused
}

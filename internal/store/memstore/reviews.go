package memstore

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Reviews plays the API server for ServiceAccount tokens: it issues signed
// tokens as the TokenRequest API does and answers reviews of them as the
// TokenReview API does (authentic, not expired, valid for an asked
// audience, the ServiceAccount not deleted). It counts the reviews asked.
type Reviews struct {
	// Issuer is the iss of the tokens it issues.
	Issuer  string
	signer  jose.Signer
	mu      sync.Mutex
	issued  map[string]issuedSAToken
	deleted map[string]bool
	calls   atomic.Int64
	now     func() time.Time
}

type issuedSAToken struct {
	username  string
	audiences []string
	notBefore time.Time
	expires   time.Time
}

// NewReviews returns a reviewer with a fresh RSA key (the API server's
// service-account signing key) reading time from now.
func NewReviews(now func() time.Time) *Reviews {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	return &Reviews{
		Issuer: "https://kubernetes.default.svc.cluster.local", signer: sig,
		issued: map[string]issuedSAToken{}, deleted: map[string]bool{}, now: now,
	}
}

// Username is the API server's name of a ServiceAccount.
func Username(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Issue returns a token of the ServiceAccount namespace/name for audiences,
// valid from now for ttl.
func (r *Reviews) Issue(namespace, name string, audiences []string, ttl time.Duration) string {
	now := r.now()
	return r.IssueFrom(namespace, name, audiences, now, now.Add(ttl))
}

// IssueFrom returns a token valid from notBefore until expires.
func (r *Reviews) IssueFrom(namespace, name string, audiences []string, notBefore, expires time.Time) string {
	claims := jwt.Claims{
		Issuer: r.Issuer, Subject: Username(namespace, name), Audience: audiences,
		IssuedAt: jwt.NewNumericDate(notBefore), NotBefore: jwt.NewNumericDate(notBefore), Expiry: jwt.NewNumericDate(expires),
	}
	tok, err := jwt.Signed(r.signer).Claims(claims).Serialize()
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.issued[tok] = issuedSAToken{username: claims.Subject, audiences: audiences, notBefore: notBefore, expires: expires}
	return tok
}

// DeleteServiceAccount makes every token of namespace/name fail review, as
// the API server does once the ServiceAccount is gone.
func (r *Reviews) DeleteServiceAccount(namespace, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted[Username(namespace, name)] = true
}

// Calls returns how many reviews were asked.
func (r *Reviews) Calls() int64 { return r.calls.Load() }

// Review implements store.TokenReviewer.
func (r *Reviews) Review(_ context.Context, token string, audiences []string) (*store.ReviewedToken, error) {
	r.calls.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.issued[token]
	if !ok || r.deleted[t.username] || !r.now().Before(t.expires) || r.now().Before(t.notBefore) {
		return nil, store.ErrNotFound
	}
	var valid []string
	for _, a := range audiences {
		if slices.Contains(t.audiences, a) {
			valid = append(valid, a)
		}
	}
	if len(valid) == 0 {
		return nil, store.ErrNotFound
	}
	return &store.ReviewedToken{Username: t.username, UID: fmt.Sprintf("uid-%s", t.username), Audiences: valid}, nil
}

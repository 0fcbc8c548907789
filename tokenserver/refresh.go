package tokenserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// A refresh token is "twr_<family id>_<secret>": the family id names the
// record in the store, the secret is 256 random bits of which the store keeps
// only a SHA-256 digest. The prefix lets secret scanners spot leaks.
const refreshTokenPrefix = "twr_"

var (
	// errFamilyInvalid is every reason a refresh token does not work; the
	// client learns only invalid_grant.
	errFamilyInvalid = errors.New("refresh token is invalid, expired or revoked")
	// errFamilyReplayed is errFamilyInvalid after a replay revoked the family.
	errFamilyReplayed = fmt.Errorf("%w: a superseded token was replayed; the family is revoked", errFamilyInvalid)
	// errFamilyBusy: one record kept changing under an update (many
	// concurrent retries of one token within the grace window). The client
	// may retry.
	errFamilyBusy = errors.New("refresh family is being updated concurrently")
	// errNoMatch: a revocation request names a family it may not revoke.
	errNoMatch = errors.New("the token does not belong to the caller")
)

func digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func digestEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func newRefreshSecret() (string, error) {
	return credentials.RandomString(32)
}

// newFamilyID returns a new family id: 16 random bytes and their stamp
// (idstamp.go), in hex.
func (s *Server) newFamilyID(now time.Time) (string, error) {
	b := make([]byte, 16, 16+stampLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	st, err := s.stamp(stampFamily, b, now)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(append(b, st...)), nil
}

// familyIDLen is the length of a family id; earlier releases issued ids of
// legacyFamilyIDLen (no stamp), which stay valid.
const (
	familyIDLen       = 2 * (16 + stampLen)
	legacyFamilyIDLen = 32
)

// parseRefreshToken splits a token into family id and secret.
func parseRefreshToken(tok string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(tok, refreshTokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || (len(id) != familyIDLen && len(id) != legacyFamilyIDLen) || secret == "" || len(secret) > 64 {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// familyContext is ctx for looking up family id (lookupContext).
func (s *Server) familyContext(ctx context.Context, id string) context.Context {
	b, _ := hex.DecodeString(id)
	if len(b) != familyIDLen/2 {
		return store.CachedOnly(ctx)
	}
	return s.lookupContext(ctx, stampFamily, b[:16], b[16:])
}

// refreshOutcome is what presenting a refresh token to its family means.
type refreshOutcome int

const (
	// refreshInvalid: another client's family, or an expired one.
	refreshInvalid refreshOutcome = iota
	// refreshRotate: the current token; it is exchanged for a successor.
	refreshRotate
	// refreshRetry: the token just superseded, within the grace window: an
	// honest retry whose answer was lost. Its successor is replaced, so still
	// only one token works.
	refreshRetry
	// refreshReplay: any other token of the family (RFC 9700 §4.14.2): the
	// family is revoked, whoever holds its current token included.
	refreshReplay
)

// decideRefresh is the refresh policy, a pure function of the family, the
// digest of the presented token, the presenting client and the time.
func decideRefresh(f *store.Family, presented string, clientUID types.UID, now time.Time, grace time.Duration) refreshOutcome {
	switch {
	case f.ClientUID != clientUID || f.Expired(now):
		return refreshInvalid
	case digestEqual(presented, f.Current):
		return refreshRotate
	case digestEqual(presented, f.Previous) && now.Before(f.RotatedAt.Add(grace)):
		return refreshRetry
	default:
		return refreshReplay
	}
}

// createFamily starts a family and returns its first token. id names it;
// empty means a new random id.
func (s *Server) createFamily(ctx context.Context, req *tokenRequest, user *store.User, authTime time.Time, id string) (string, error) {
	var err error
	if id == "" {
		if id, err = s.newFamilyID(req.now); err != nil {
			return "", err
		}
	}
	secret, err := newRefreshSecret()
	if err != nil {
		return "", err
	}
	c := req.client.Object
	if err := s.checkFamilyCap(ctx, c, user, req.now); err != nil {
		return "", err
	}
	now := req.now.UTC()
	if authTime.IsZero() {
		authTime = now
	}
	f := &store.Family{
		ClientUID: c.UID, ClientID: c.Status.ClientID, UserUID: user.Object.UID,
		Scopes: req.scopes, Audience: req.audience, AuthTime: authTime.UTC(), CreatedAt: now,
		ExpiresAt:  now.Add(durationOr(c.Spec.RefreshTokenTTL, 720*time.Hour)),
		IdleTTL:    durationOr(c.Spec.RefreshTokenIdleTTL, 168*time.Hour),
		LastUsedAt: now, Current: digest(secret), RotatedAt: now, Source: req.source,
	}
	if err := s.families.Create(ctx, c.Namespace, id, f, familyOwner(c, user)); err != nil {
		return "", fmt.Errorf("create refresh family: %w", err)
	}
	return refreshTokenPrefix + id + "_" + secret, nil
}

// rotateFamily exchanges a refresh token for its successor. The decision and
// the write are one compare-and-swap, so two replicas racing on one token end
// with exactly one valid successor (or, for a replay outside the grace
// window, a revoked family).
//
// check runs on the family before anything is written: when it refuses (a
// user now disabled, a scope outside the grant), the presented token stays
// the current one, so a refused request never costs the client its session.
func (s *Server) rotateFamily(ctx context.Context, namespace, tok string, clientUID types.UID, check func(*store.Family) error) (*store.Family, string, error) {
	id, secret, ok := parseRefreshToken(tok)
	if !ok {
		return nil, "", errFamilyInvalid
	}
	presented := digest(secret)
	next, err := newRefreshSecret()
	if err != nil {
		return nil, "", err
	}
	f, err := s.families.Update(s.familyContext(ctx, id), namespace, id, func(f *store.Family) (store.Op, error) {
		now := s.opts.Clock.Now().UTC()
		outcome := decideRefresh(f, presented, clientUID, now, s.opts.RefreshGrace)
		switch outcome {
		case refreshInvalid:
			return store.Keep, errFamilyInvalid
		case refreshReplay:
			return store.Delete, errFamilyReplayed
		}
		if err := check(f); err != nil {
			return store.Keep, err
		}
		if outcome == refreshRotate {
			f.Previous, f.RotatedAt = f.Current, now
		}
		f.Current, f.LastUsedAt = digest(next), now
		return store.Write, nil
	})
	if err != nil {
		return nil, "", storeError(err)
	}
	return f, refreshTokenPrefix + id + "_" + next, nil
}

// storeError maps what a store says to the token server's own errors.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errFamilyInvalid
	case errors.Is(err, store.ErrConflict):
		return errFamilyBusy
	}
	return err
}

// lookupFamily reports the family of a token when the token is its current
// one and the family is alive (introspection: a fresh read, never a copy that
// may lag behind another replica's rotation).
func (s *Server) lookupFamily(ctx context.Context, namespace, tok string) (*store.Family, error) {
	id, secret, ok := parseRefreshToken(tok)
	if !ok {
		return nil, errFamilyInvalid
	}
	f, err := s.families.Get(s.familyContext(ctx, id), namespace, id)
	if err != nil {
		return nil, storeError(err)
	}
	if !digestEqual(digest(secret), f.Current) || f.Expired(s.opts.Clock.Now()) {
		return nil, errFamilyInvalid
	}
	return f, nil
}

// revokeFamily deletes the family of a token the client owns (RFC 7009 §2.1:
// a token of another client is not revoked, and the answer is the same).
func (s *Server) revokeFamily(ctx context.Context, namespace, tok string, clientUID types.UID) error {
	id, secret, ok := parseRefreshToken(tok)
	if !ok {
		return nil
	}
	d := digest(secret)
	_, err := s.families.Update(s.familyContext(ctx, id), namespace, id, func(f *store.Family) (store.Op, error) {
		if f.ClientUID == clientUID && (digestEqual(d, f.Current) || digestEqual(d, f.Previous)) {
			return store.Delete, nil
		}
		return store.Keep, errNoMatch
	})
	if errors.Is(err, errNoMatch) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

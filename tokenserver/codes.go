package tokenserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/credentials"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// An authorization code is "twc_<stamp><secret>": 24 hex digits of its
// stamp (idstamp.go) and 256 random bits. Its record is
// named from a digest of the code, so the store never holds a usable code,
// and every replica sees the same record: redeeming is a compare-and-swap on
// it, which is what makes a code single use across replicas (RFC 6749 §4.1.2).
const authCodePrefix = "twc_"

var (
	// errCodeInvalid is every reason a code does not work; the client learns
	// only invalid_grant.
	errCodeInvalid = errors.New("authorization code is invalid, expired or used")
	// errCodeReused is a second use of a code (RFC 6749 §4.1.2, RFC 9700 §4.5).
	errCodeReused = fmt.Errorf("%w: the code was used before", errCodeInvalid)
)

// codeID names the record of a code: 160 bits of its SHA-256 digest.
func codeID(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:20])
}

// newCode returns a new code, stamped as issued at now.
func (s *Server) newCode(now time.Time) (string, error) {
	secret, err := credentials.RandomString(32)
	if err != nil {
		return "", err
	}
	st, err := s.stamp(stampCode, []byte(secret), now)
	if err != nil {
		return "", err
	}
	return authCodePrefix + hex.EncodeToString(st) + secret, nil
}

// createCode stores a new code record issued to user and returns the code.
func (s *Server) createCode(ctx context.Context, namespace, clientName string, user *store.User, rec *store.AuthCode) (string, error) {
	code, err := s.newCode(s.opts.Clock.Now())
	if err != nil {
		return "", err
	}
	rec.Digest = digest(code)
	owner := store.Owner{UserName: user.Object.Name, UserUID: user.Object.UID, ClientName: clientName, ClientUID: rec.ClientUID}
	if err := s.codes.Create(ctx, namespace, codeID(code), rec, owner); err != nil {
		return "", fmt.Errorf("create authorization code: %w", err)
	}
	return code, nil
}

// redeemCode marks a code used, recording what it is about to issue, in one
// compare-and-swap: of two concurrent redemptions exactly one wins. check
// runs on the record before anything is written; a refused exchange (wrong
// verifier, wrong redirect_uri) leaves the code as it was. A second use of a
// redeemed code returns the record with errCodeReused, for the caller to
// revoke what the first use issued.
func (s *Server) redeemCode(ctx context.Context, namespace, code string, now time.Time, check func(*store.AuthCode) error, mark func(*store.AuthCode)) (*store.AuthCode, error) {
	if !strings.HasPrefix(code, authCodePrefix) || len(code) > 128 {
		return nil, errCodeInvalid
	}
	presented := digest(code)
	var reused *store.AuthCode
	rec, err := s.codes.Update(s.codeContext(ctx, code), namespace, codeID(code), func(rec *store.AuthCode) (store.Op, error) {
		switch {
		case !digestEqual(presented, rec.Digest):
			return store.Keep, errCodeInvalid
		case rec.Redeemed():
			r := *rec
			reused = &r
			return store.Keep, errCodeReused
		case !now.Before(rec.ExpiresAt):
			return store.Keep, errCodeInvalid
		}
		if err := check(rec); err != nil {
			return store.Keep, err
		}
		mark(rec)
		rec.RedeemedAt = now
		return store.Write, nil
	})
	switch {
	case errors.Is(err, errCodeReused):
		return reused, err
	case errors.Is(err, store.ErrNotFound):
		return nil, errCodeInvalid
	case errors.Is(err, store.ErrConflict):
		return nil, errFamilyBusy
	}
	return rec, err
}

// codeContext is ctx for looking up the record of code (lookupContext).
func (s *Server) codeContext(ctx context.Context, code string) context.Context {
	rest := strings.TrimPrefix(code, authCodePrefix)
	if len(rest) <= 2*stampLen {
		return store.CachedOnly(ctx)
	}
	st, err := hex.DecodeString(rest[:2*stampLen])
	if err != nil {
		return store.CachedOnly(ctx)
	}
	return s.lookupContext(ctx, stampCode, []byte(rest[2*stampLen:]), st)
}

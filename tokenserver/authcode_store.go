package tokenserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// An authorization code is "twc_<secret>" with 256 random bits. Its record is
// a Secret in the client's namespace named from a digest of the code, so the
// cluster never holds a usable code, and every replica sees the same record:
// redeeming is a compare-and-swap on it, which is what makes a code single
// use across replicas (RFC 6749 §4.1.2).
const (
	authCodePrefix = "twc_"
	// CodeSecretPrefix starts the name of every authorization-code record.
	CodeSecretPrefix = "twrc-"
	// CodeDataKey holds the record in its Secret.
	CodeDataKey = "code"
	// codeTTL is the lifetime of a code; RFC 6749 §4.1.2 recommends at most
	// ten minutes, and a browser redirect followed by one back-channel call
	// needs seconds.
	codeTTL = 60 * time.Second
	// CodeRetention is how long a record outlives its code, so that a late
	// second use is still recognised as one and revokes what the first
	// issued; the collector removes records after it.
	CodeRetention = 10 * time.Minute
)

// authCode is what a code is bound to (RFC 6749 §4.1.3, RFC 7636 §4.4) and,
// once redeemed, what it issued, so a second use can revoke it.
type authCode struct {
	Digest    string    `json:"digest"`
	ClientUID types.UID `json:"clientUID"`
	UserUID   types.UID `json:"userUID"`
	// RedirectURI is where the code was sent; RedirectURIGiven tells whether
	// the request named it, which makes it required at the exchange.
	RedirectURI      string    `json:"redirectURI"`
	RedirectURIGiven bool      `json:"redirectURIGiven"`
	Scopes           []string  `json:"scopes"`
	Nonce            string    `json:"nonce,omitempty"`
	Challenge        string    `json:"challenge,omitempty"`
	ChallengeMethod  string    `json:"challengeMethod,omitempty"`
	AuthTime         time.Time `json:"authTime"`
	ExpiresAt        time.Time `json:"expiresAt"`
	// Set when redeemed.
	RedeemedAt      time.Time `json:"redeemedAt,omitzero"`
	FamilyID        string    `json:"familyID,omitempty"`
	AccessJTI       string    `json:"accessJTI,omitempty"`
	AccessExpiresAt time.Time `json:"accessExpiresAt,omitzero"`
}

func (c *authCode) redeemed() bool { return !c.RedeemedAt.IsZero() }

// codeStore keeps authorization codes as Secrets, like refresh families.
type codeStore struct {
	cache  client.Reader
	live   client.Reader
	writer client.Client
}

func codeSecretName(code string) string {
	sum := sha256.Sum256([]byte(code))
	return CodeSecretPrefix + hex.EncodeToString(sum[:20])
}

// create stores a new code record owned by the user (deleting the user
// deletes its pending codes) and returns the code.
func (st *codeStore) create(ctx context.Context, namespace string, user *userRecord, rec *authCode) (string, error) {
	secret, err := credentials.RandomString(32)
	if err != nil {
		return "", err
	}
	code := authCodePrefix + secret
	rec.Digest = digest(code)
	raw, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	no := false
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: codeSecretName(code), Namespace: namespace,
			Labels: map[string]string{contract.LabelKind: contract.KindAuthorizationCode, contract.LabelManagedBy: contract.ManagedBy},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "oauth.tokenwarden.dev/v1alpha1", Kind: "OAuthUser", Name: user.obj.Name, UID: user.obj.UID,
				Controller: &no, BlockOwnerDeletion: &no,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{CodeDataKey: raw},
	}
	if err := st.writer.Create(ctx, s); err != nil {
		return "", fmt.Errorf("create authorization code: %w", err)
	}
	return code, nil
}

// errCodeInvalid is every reason a code does not work; the client learns
// only invalid_grant.
var errCodeInvalid = errors.New("authorization code is invalid, expired or used")

// get reads a record from the cache or, when the cache has not seen it yet
// (it was created a moment ago, maybe on another replica), the API server.
func (st *codeStore) get(ctx context.Context, namespace, code string, live bool) (*corev1.Secret, *authCode, error) {
	if !strings.HasPrefix(code, authCodePrefix) || len(code) > 128 {
		return nil, nil, errCodeInvalid
	}
	key := types.NamespacedName{Namespace: namespace, Name: codeSecretName(code)}
	var s corev1.Secret
	err := errNotFound
	if !live {
		err = st.cache.Get(ctx, key, &s)
	}
	if live || apierrors.IsNotFound(err) {
		err = st.live.Get(ctx, key, &s)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil, errCodeInvalid
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get authorization code: %w", err)
	}
	var rec authCode
	if json.Unmarshal(s.Data[CodeDataKey], &rec) != nil || !digestEqual(digest(code), rec.Digest) {
		return nil, nil, errCodeInvalid
	}
	return &s, &rec, nil
}

// redeem marks a code used, recording what it is about to issue, in one
// compare-and-swap: of two concurrent redemptions exactly one wins. check
// runs on the record before anything is written; a refused exchange (wrong
// verifier, wrong redirect_uri) leaves the code as it was. A second use of a
// redeemed code returns the record with errCodeReused, for the caller to
// revoke what the first use issued.
func (st *codeStore) redeem(ctx context.Context, namespace, code string, now time.Time, check func(*authCode) error, mark func(*authCode)) (*authCode, error) {
	for attempt := 0; attempt < maxRotateAttempts; attempt++ {
		s, rec, err := st.get(ctx, namespace, code, attempt > 0)
		if err != nil {
			return nil, err
		}
		if rec.redeemed() {
			if attempt == 0 {
				continue // confirm on a live read before revoking anything
			}
			return rec, errCodeReused
		}
		if !now.Before(rec.ExpiresAt) {
			return nil, errCodeInvalid
		}
		if err := check(rec); err != nil {
			return nil, err
		}
		mark(rec)
		rec.RedeemedAt = now
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		u := s.DeepCopy()
		u.Data = map[string][]byte{CodeDataKey: raw}
		if err := st.writer.Update(ctx, u); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			if apierrors.IsNotFound(err) {
				return nil, errCodeInvalid
			}
			return nil, fmt.Errorf("redeem authorization code: %w", err)
		}
		return rec, nil
	}
	return nil, errFamilyBusy
}

// errCodeReused is a second use of a code (RFC 6749 §4.1.2, RFC 9700 §4.5).
var errCodeReused = fmt.Errorf("%w: the code was used before", errCodeInvalid)

package tokenserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/credentials"
)

// A refresh token is "twr_<family id>_<secret>": the family id names the
// record in the cluster, the secret is 256 random bits of which the cluster
// keeps only a SHA-256 digest. The prefix lets secret scanners spot leaks.
const (
	refreshTokenPrefix = "twr_"
	// FamilySecretPrefix starts the name of every refresh-family Secret.
	FamilySecretPrefix = "twrf-"
	// FamilyDataKey holds the family record in its Secret.
	FamilyDataKey = "family"
)

// family is the state of one refresh-token family (RFC 9700 §4.14.2): every
// token obtained by rotating the first one belongs to it, and replaying a
// superseded token revokes all of it.
type family struct {
	ClientUID types.UID `json:"clientUID"`
	ClientID  string    `json:"clientID"`
	UserUID   types.UID `json:"userUID"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	AuthTime  time.Time `json:"authTime"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt is the absolute end; IdleTTL ends a family unused that long.
	ExpiresAt  time.Time     `json:"expiresAt"`
	IdleTTL    time.Duration `json:"idleTTL"`
	LastUsedAt time.Time     `json:"lastUsedAt"`
	// Current is the digest of the one token that may be used; Previous the
	// digest of the token it replaced, accepted again until RotatedAt plus
	// the grace window so an honest retry of a lost answer is not a replay.
	Current   string    `json:"current"`
	Previous  string    `json:"previous,omitempty"`
	RotatedAt time.Time `json:"rotatedAt"`
	// Source is where it came from, for introspection and audits.
	Source string `json:"source,omitempty"`
}

func (f *family) expired(now time.Time) bool {
	return !now.Before(f.ExpiresAt) || (f.IdleTTL > 0 && !now.Before(f.LastUsedAt.Add(f.IdleTTL)))
}

// errFamilyInvalid is every reason a refresh token does not work; the client
// learns only invalid_grant.
var errFamilyInvalid = errors.New("refresh token is invalid, expired or revoked")

// familyStore keeps families as Secrets in the client's namespace. Reads come
// from the informer cache; writes are updates with the resourceVersion that was
// read (compare-and-swap), so replicas never both rotate the same token.
type familyStore struct {
	cache  client.Reader
	live   client.Reader
	writer client.Client
	clock  clock.PassiveClock
	grace  time.Duration
	// written remembers the families this server wrote in the last few
	// seconds. The informer cache lags behind our own writes, and a client
	// that refreshes again right away (a retry, a chained workload) would
	// otherwise cost a live read. Like the cache, it only feeds the fast
	// path: the write is compare-and-swap either way.
	written sync.Map // namespace/name → writtenFamily
	writes  atomic.Int64
}

type writtenFamily struct {
	secret *corev1.Secret
	at     time.Time
}

// writtenTTL bounds how long a written family is preferred to the cache.
const writtenTTL = 10 * time.Second

func (st *familyStore) remember(s *corev1.Secret) {
	now := time.Now()
	st.written.Store(s.Namespace+"/"+s.Name, writtenFamily{secret: s, at: now})
	if st.writes.Add(1)%256 == 0 {
		st.written.Range(func(k, v any) bool {
			if now.Sub(v.(writtenFamily).at) > writtenTTL {
				st.written.Delete(k)
			}
			return true
		})
	}
}

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

func newFamilyID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// parseRefreshToken splits a token into family id and secret.
func parseRefreshToken(tok string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(tok, refreshTokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 32 || secret == "" || len(secret) > 64 {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// create starts a family and returns its first token. id names it; empty
// means a new random id.
func (st *familyStore) create(ctx context.Context, req *tokenRequest, user *userRecord, authTime time.Time, id string) (string, error) {
	var err error
	if id == "" {
		if id, err = newFamilyID(); err != nil {
			return "", err
		}
	}
	secret, err := newRefreshSecret()
	if err != nil {
		return "", err
	}
	c := req.client.obj
	now := req.now.UTC()
	if authTime.IsZero() {
		authTime = now
	}
	f := &family{
		ClientUID: c.UID, ClientID: c.Status.ClientID, UserUID: user.obj.UID,
		Scopes: req.scopes, Audience: req.audience, AuthTime: authTime.UTC(), CreatedAt: now,
		ExpiresAt:  now.Add(durationOr(c.Spec.RefreshTokenTTL, 720*time.Hour)),
		IdleTTL:    durationOr(c.Spec.RefreshTokenIdleTTL, 168*time.Hour),
		LastUsedAt: now, Current: digest(secret), RotatedAt: now, Source: req.source,
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	no := false
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: FamilySecretPrefix + id, Namespace: c.Namespace,
			Labels: map[string]string{contract.LabelKind: contract.KindRefreshFamily, contract.LabelManagedBy: contract.ManagedBy, contract.LabelFamilyClient: shortLabel(c.Name)},
			// Owned by the user: deleting the user deletes its families. The
			// client is checked on every use, and the family collector
			// removes families whose client is gone.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "oauth.tokenwarden.dev/v1alpha1", Kind: "OAuthUser", Name: user.obj.Name, UID: user.obj.UID,
				Controller: &no, BlockOwnerDeletion: &no,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{FamilyDataKey: raw},
	}
	if err := st.writer.Create(ctx, s); err != nil {
		return "", fmt.Errorf("create refresh family: %w", err)
	}
	return refreshTokenPrefix + id + "_" + secret, nil
}

func shortLabel(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// get reads a family from the cache, or from the API server when the cache
// has not seen it yet (it was created a moment ago on another replica).
func (st *familyStore) get(ctx context.Context, namespace, id string, live bool) (*corev1.Secret, *family, error) {
	key := types.NamespacedName{Namespace: namespace, Name: FamilySecretPrefix + id}
	var s corev1.Secret
	err := errNotFound
	if !live {
		if w, ok := st.written.Load(key.String()); ok && time.Since(w.(writtenFamily).at) < writtenTTL {
			w.(writtenFamily).secret.DeepCopyInto(&s)
			err = nil
		} else {
			err = st.cache.Get(ctx, key, &s)
		}
	}
	if live || apierrors.IsNotFound(err) {
		err = st.live.Get(ctx, key, &s)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil, errFamilyInvalid
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get refresh family: %w", err)
	}
	var f family
	if err := json.Unmarshal(s.Data[FamilyDataKey], &f); err != nil {
		return nil, nil, errFamilyInvalid
	}
	return &s, &f, nil
}

// rotate exchanges a refresh token for its successor. The decision and the
// write are one compare-and-swap: on a conflict the family is read again from
// the API server and the decision made anew, so two replicas racing on one
// token end with exactly one valid successor (or, for a replay outside the
// grace window, a revoked family).
//
// check runs on the family before anything is written: when it refuses (a
// user now disabled, a scope outside the grant), the presented token stays
// the current one, so a refused request never costs the client its session.
func (st *familyStore) rotate(ctx context.Context, namespace, tok string, clientUID types.UID, check func(*family) error) (*family, string, error) {
	id, secret, ok := parseRefreshToken(tok)
	if !ok {
		return nil, "", errFamilyInvalid
	}
	presented := digest(secret)
	for attempt := 0; attempt < maxRotateAttempts; attempt++ {
		// The first read is from the cache, which may lag behind a
		// rotation made a moment ago (here or on another replica). Only
		// the fast path trusts it: every refusal, and above all a replay
		// verdict that revokes the family, is decided on a live read.
		live := attempt > 0
		s, f, err := st.get(ctx, namespace, id, live)
		if err != nil {
			return nil, "", err
		}
		now := st.clock.Now().UTC()
		current := digestEqual(presented, f.Current)
		if !live && (!current || f.ClientUID != clientUID || f.expired(now)) {
			continue
		}
		if f.ClientUID != clientUID || f.expired(now) {
			return nil, "", errFamilyInvalid
		}
		retry := !current && digestEqual(presented, f.Previous) && now.Before(f.RotatedAt.Add(st.grace))
		if current || retry {
			if err := check(f); err != nil {
				return nil, "", err
			}
		}
		switch {
		case current:
			f.Previous = f.Current
			f.RotatedAt = now
		case retry:
			// An honest retry: the answer to the first use was lost.
			// Its successor is replaced, so still only one token works.
		default:
			// Replay of a superseded token (RFC 9700 §4.14.2): the family
			// is revoked, whoever holds its current token included.
			if err := st.delete(ctx, s); err != nil {
				return nil, "", err
			}
			return nil, "", errFamilyReplayed
		}
		next, err := newRefreshSecret()
		if err != nil {
			return nil, "", err
		}
		f.Current = digest(next)
		f.LastUsedAt = now
		if err := st.update(ctx, s, f); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			if apierrors.IsNotFound(err) {
				// Revoked between the read and the write.
				return nil, "", errFamilyInvalid
			}
			return nil, "", err
		}
		return f, refreshTokenPrefix + id + "_" + next, nil
	}
	return nil, "", errFamilyBusy
}

// maxRotateAttempts bounds the compare-and-swap retries of one rotation.
const maxRotateAttempts = 12

// errFamilyBusy: one family kept changing under a rotation (many concurrent
// retries of one token within the grace window). The client may retry.
var errFamilyBusy = errors.New("refresh family is being updated concurrently")

// errFamilyReplayed is errFamilyInvalid after a replay revoked the family.
var errFamilyReplayed = fmt.Errorf("%w: a superseded token was replayed; the family is revoked", errFamilyInvalid)

// update writes f back with the resourceVersion s was read at.
func (st *familyStore) update(ctx context.Context, s *corev1.Secret, f *family) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	u := s.DeepCopy()
	u.Data = map[string][]byte{FamilyDataKey: raw}
	if err := st.writer.Update(ctx, u); err != nil {
		return err
	}
	st.remember(u)
	return nil
}

// delete removes a family; a family already gone is fine.
func (st *familyStore) delete(ctx context.Context, s *corev1.Secret) error {
	st.written.Delete(s.Namespace + "/" + s.Name)
	err := st.writer.Delete(ctx, s, client.Preconditions{UID: &s.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// revokeID deletes the family id (a family already gone is fine): a second
// use of the authorization code it came from revokes it.
func (st *familyStore) revokeID(ctx context.Context, namespace, id string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: FamilySecretPrefix + id}}
	if err := st.writer.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// lookup reports the family of a token when the token is its current one and
// the family is alive (introspection of refresh tokens, which is rare enough
// to afford a live read).
func (st *familyStore) lookup(ctx context.Context, namespace, tok string) (*family, error) {
	id, secret, ok := parseRefreshToken(tok)
	if !ok {
		return nil, errFamilyInvalid
	}
	// Introspection must not call a superseded token active, and any local
	// copy may lag behind another replica's rotation: read live.
	_, f, err := st.get(ctx, namespace, id, true)
	if err != nil {
		return nil, err
	}
	if !digestEqual(digest(secret), f.Current) || f.expired(st.clock.Now()) {
		return nil, errFamilyInvalid
	}
	return f, nil
}

// revoke deletes the family of a token the client owns (RFC 7009 §2.1: a
// token of another client is not revoked, and the answer is the same).
func (st *familyStore) revoke(ctx context.Context, namespace, tok string, clientUID types.UID) error {
	id, secret, ok := parseRefreshToken(tok)
	if !ok {
		return nil
	}
	d := digest(secret)
	for _, live := range []bool{false, true} {
		// A miss on the cache may be a rotation it has not seen yet.
		s, f, err := st.get(ctx, namespace, id, live)
		if err != nil {
			if errors.Is(err, errFamilyInvalid) {
				return nil
			}
			return err
		}
		if f.ClientUID == clientUID && (digestEqual(d, f.Current) || digestEqual(d, f.Previous)) {
			return st.delete(ctx, s)
		}
	}
	return nil
}

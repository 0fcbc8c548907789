package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Settings drive the rotation policy.
type Settings struct {
	// Algorithms to keep an active key for.
	Algorithms []Algorithm
	// RotationPeriod is how long a key signs before the next one takes over.
	RotationPeriod time.Duration
	// PublishAhead is how long a key is published before it signs. It must be
	// longer than any verifier caches the JWKS (DefaultJWKSMaxAge).
	PublishAhead time.Duration
	// RetainAfterRetire is how long a retired key stays published: the
	// longest token lifetime plus leeway, so every token it signed can still
	// be verified until it expires.
	RetainAfterRetire time.Duration
}

// DefaultJWKSMaxAge is the Cache-Control max-age of the JWKS. It is shorter
// than the default publish-ahead, so a verifier honouring it always sees a new
// key before the key signs.
const DefaultJWKSMaxAge = time.Hour

// DefaultSettings: ES256 (access tokens) and RS256 (id_tokens, the OpenID
// Connect default), 30-day rotation, 2 h publish-ahead (twice the JWKS
// max-age), and retired keys kept 24 h 5 min: tokens live at most 24 h (the
// API caps access- and id-token TTLs there) plus 5 min of clock skew.
func DefaultSettings() Settings {
	return Settings{
		Algorithms:        []Algorithm{ES256, RS256},
		RotationPeriod:    30 * 24 * time.Hour,
		PublishAhead:      2 * time.Hour,
		RetainAfterRetire: 24*time.Hour + 5*time.Minute,
	}
}

// MaxTokenTTL is the longest lifetime the API allows for a signed token.
const MaxTokenTTL = 24 * time.Hour

// Validate refuses settings under which a verifier could meet an unknown kid
// or lose a key while tokens it signed still live.
func (s Settings) Validate() error {
	for _, a := range s.Algorithms {
		if !a.Valid() {
			return fmt.Errorf("unknown algorithm %q: use ES256, RS256 or EdDSA", a)
		}
	}
	switch {
	case len(s.Algorithms) == 0:
		return errors.New("no signing algorithm configured")
	case s.PublishAhead <= DefaultJWKSMaxAge:
		return fmt.Errorf("publish-ahead %v must be longer than the JWKS max-age %v, or verifiers with a cached JWKS meet unknown kids", s.PublishAhead, DefaultJWKSMaxAge)
	case s.RotationPeriod <= s.PublishAhead:
		return fmt.Errorf("rotation period %v must be longer than publish-ahead %v", s.RotationPeriod, s.PublishAhead)
	case s.RetainAfterRetire < MaxTokenTTL:
		return fmt.Errorf("retired keys must stay published at least %v (the longest token lifetime); got %v", MaxTokenTTL, s.RetainAfterRetire)
	}
	return nil
}

// Force is a rotation requested by hand.
type Force struct {
	// Requested rotates as soon as the next key has been published long
	// enough, whatever the rotation period says.
	Requested bool
	// Compromised rotates at once: the active key is removed (not retired)
	// and the next key signs immediately. Verifiers holding a cached JWKS
	// fail on the new kid until they refetch.
	Compromised bool
}

// ChangeKind names what happened to a key.
type ChangeKind string

// The kinds of change Plan makes.
const (
	Generated ChangeKind = "Generated"
	Activated ChangeKind = "Activated"
	Retired   ChangeKind = "Retired"
	Removed   ChangeKind = "Removed"
)

// Change is one step of a plan, for Events and metrics.
type Change struct {
	Kind   ChangeKind
	KID    string
	Alg    Algorithm
	Reason string
}

// Result is what Plan decided.
type Result struct {
	// Keys is the new key list, sorted like Encode.
	Keys    []Key
	Changes []Change
	// RequeueAfter is when to plan again; never zero.
	RequeueAfter time.Duration
	// ForceDone is true when a forced rotation has happened.
	ForceDone bool
}

// maxRequeue makes the controller look again at least this often.
const maxRequeue = time.Hour

// Plan is the rotation policy: a pure function of the stored keys, the
// settings, the time and a force request. gen makes new keys (tests pass a
// fast fake). When nothing is due, Result.Keys equals the input and Changes is
// empty, so the caller writes nothing.
func Plan(current []Key, s Settings, now time.Time, force Force, gen func(Algorithm, time.Time) (Key, error)) (Result, error) {
	p := &planner{s: s, now: now.UTC().Truncate(time.Second), gen: gen}
	p.keys = append([]Key(nil), current...)
	sortKeys(p.keys)
	p.next = p.now.Add(maxRequeue)
	algs := append([]Algorithm(nil), s.Algorithms...)
	for _, k := range p.keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	forced := force.Requested || force.Compromised
	pending := false
	for _, alg := range algs {
		wanted := slices.Contains(s.Algorithms, alg)
		rotated, err := p.planAlg(alg, wanted, force)
		if err != nil {
			return Result{}, err
		}
		pending = pending || (wanted && !rotated)
	}
	p.removeExpired()
	sortKeys(p.keys)
	return Result{Keys: p.keys, Changes: p.changes, RequeueAfter: p.next.Sub(p.now), ForceDone: forced && !pending}, nil
}

type planner struct {
	s       Settings
	now     time.Time
	gen     func(Algorithm, time.Time) (Key, error)
	keys    []Key
	changes []Change
	next    time.Time
}

// at schedules the next plan no later than t.
func (p *planner) at(t time.Time) {
	if t.After(p.now) && t.Before(p.next) {
		p.next = t
	}
}

func (p *planner) change(kind ChangeKind, k Key, reason string) {
	p.changes = append(p.changes, Change{Kind: kind, KID: k.ID, Alg: k.Algorithm, Reason: reason})
}

// indexes returns the positions of keys of alg in state st, newest first.
func (p *planner) indexes(alg Algorithm, st State) []int {
	var out []int
	for i := len(p.keys) - 1; i >= 0; i-- {
		if p.keys[i].Algorithm == alg && p.keys[i].State == st {
			out = append(out, i)
		}
	}
	return out
}

func (p *planner) retire(i int, reason string) {
	p.keys[i].State = StateRetired
	p.keys[i].RetiredAt = p.now
	p.change(Retired, p.keys[i], reason)
}

func (p *planner) activate(i int, reason string) {
	p.keys[i].State = StateActive
	p.keys[i].ActivatedAt = p.now
	p.change(Activated, p.keys[i], reason)
}

func (p *planner) generate(alg Algorithm, reason string) (int, error) {
	k, err := p.gen(alg, p.now)
	if err != nil {
		return 0, err
	}
	k.State, k.CreatedAt = StateNext, p.now
	p.keys = append(p.keys, k)
	p.change(Generated, k, reason)
	return len(p.keys) - 1, nil
}

package keys_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenwarden/tokenwarden/internal/keys"
	"github.com/tokenwarden/tokenwarden/internal/tokens"
)

// cachingVerifier is a strict relying party: it fetches the JWKS, keeps it
// for exactly its max-age and never refetches early on an unknown kid.
type cachingVerifier struct {
	offset    time.Duration // when, within a max-age, this verifier first fetched
	fetchedAt time.Time
	set       jose.JSONWebKeySet
	fetched   bool
}

func (v *cachingVerifier) refresh(now time.Time, jwks []byte) error {
	if v.fetched && now.Sub(v.fetchedAt) < keys.DefaultJWKSMaxAge {
		return nil
	}
	v.set = jose.JSONWebKeySet{}
	if err := json.Unmarshal(jwks, &v.set); err != nil {
		return err
	}
	v.fetchedAt, v.fetched = now, true
	return nil
}

func (v *cachingVerifier) PublicKey(kid string) (jose.JSONWebKey, bool) {
	ks := v.set.Key(kid)
	if len(ks) != 1 {
		return jose.JSONWebKey{}, false
	}
	return ks[0], true
}

// TestCachedJWKSNeverMeetsUnknownKid mints a token every simulated minute
// through weeks of rotations (one every 6 hours, a forced one and a restart
// mid-way) and checks that verifiers caching the JWKS for its max-age verify
// every token from issue until expiry.
func TestCachedJWKSNeverMeetsUnknownKid(t *testing.T) {
	s := keys.Settings{
		Algorithms:        []keys.Algorithm{keys.ES256, keys.EdDSA},
		RotationPeriod:    6 * time.Hour,
		PublishAhead:      2 * keys.DefaultJWKSMaxAge,
		RetainAfterRetire: time.Hour + 5*time.Minute,
	}
	const ttl = time.Hour
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	verifiers := []*cachingVerifier{{offset: 0}, {offset: 23 * time.Minute}, {offset: 41 * time.Minute}, {offset: 59 * time.Minute}}

	type minted struct {
		token string
		alg   keys.Algorithm
		at    time.Time
	}
	var live []minted
	var stored []keys.Key
	var set *keys.Set
	rotations, verified := 0, 0
	minutes := 4 * 24 * 60
	for m := 0; m < minutes; m++ {
		now := start.Add(time.Duration(m) * time.Minute)
		force := keys.Force{Requested: m == minutes/2+100}
		if m == 30*60-10 {
			// Ten minutes before a rotation, the next keys are lost (a
			// restore from an old backup): the rotation must wait until
			// replacements have been published for publish-ahead.
			kept := stored[:0]
			for _, k := range stored {
				if k.State != keys.StateNext {
					kept = append(kept, k)
				}
			}
			stored = kept
		}
		res, err := keys.Plan(stored, s, now, force, keys.GenerateKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Changes {
			if c.Kind == keys.Activated {
				rotations++
			}
		}
		if len(res.Changes) > 0 || set == nil {
			// The stored bytes round-trip through the Secret encoding.
			b, err := keys.Encode(res.Keys)
			if err != nil {
				t.Fatal(err)
			}
			if stored, err = keys.Decode(b); err != nil {
				t.Fatal(err)
			}
			if set, err = keys.NewSet(stored); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range verifiers {
			if now.Sub(start) >= v.offset {
				if err := v.refresh(now, set.JWKS()); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, alg := range s.Algorithms {
			tok, err := tokens.MintAccessToken(set, alg, tokens.AccessClaims{
				Issuer: "https://issuer.test", Subject: "svc", Audience: []string{"api"},
				ClientID: "ns.svc", IssuedAt: now, TTL: ttl,
			})
			if err != nil {
				t.Fatalf("minute %d: mint %s: %v", m, alg, err)
			}
			live = append(live, minted{tok, alg, now})
		}
		// The hardest moments for a verifier are a token's first minute (a
		// freshly activated key against an old cache) and its last one (a
		// retired key against a fresh cache): check those and the middle.
		kept := live[:0]
		for _, tk := range live {
			age := now.Sub(tk.at)
			if age >= ttl {
				continue // expired
			}
			kept = append(kept, tk)
			if age != 0 && age != ttl/2 && age != ttl-time.Minute {
				continue
			}
			verified++
			for i, v := range verifiers {
				if !v.fetched {
					continue
				}
				_, err := tokens.Verify(tk.token, v, tokens.VerifyOptions{
					Issuer: "https://issuer.test", Audience: "api", Type: tokens.TypeAccessToken,
					Now: func() time.Time { return now },
				})
				if err != nil {
					t.Fatalf("minute %d: verifier %d (JWKS fetched %v ago) rejected a %s token minted %v ago: %v",
						m, i, now.Sub(v.fetchedAt), tk.alg, now.Sub(tk.at), err)
				}
			}
		}
		live = kept
	}
	// 4 days / 6 h = 16 periods, plus the first keys and the forced one.
	if want := 2 * 16; rotations < want {
		t.Fatalf("only %d activations in the simulation, want at least %d", rotations, want)
	}
	t.Logf("%d activations, %d token checks by each of %d verifiers", rotations, verified, len(verifiers))
}

// TestJWKSHasNoPrivateMembers checks every published key of every algorithm.
func TestJWKSHasNoPrivateMembers(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	res, err := keys.Plan(nil, keys.Settings{
		Algorithms: []keys.Algorithm{keys.ES256, keys.RS256, keys.EdDSA}, RotationPeriod: time.Hour,
		PublishAhead: time.Minute, RetainAfterRetire: time.Hour,
	}, now, keys.Force{}, keys.GenerateKey)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate once so that retired keys are published too.
	res, err = keys.Plan(res.Keys, keys.Settings{
		Algorithms: []keys.Algorithm{keys.ES256, keys.RS256, keys.EdDSA}, RotationPeriod: time.Hour,
		PublishAhead: time.Minute, RetainAfterRetire: time.Hour,
	}, now.Add(time.Hour), keys.Force{}, keys.GenerateKey)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(res.Keys)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(set.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 9 {
		t.Fatalf("JWKS has %d keys, want 9 (retired, active, next for 3 algorithms)", len(doc.Keys))
	}
	kids := map[string]bool{}
	for _, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v publishes private member %q", k["kid"], private)
			}
		}
		kid := fmt.Sprint(k["kid"])
		if kids[kid] {
			t.Errorf("duplicate kid %s", kid)
		}
		kids[kid] = true
		if k["use"] != "sig" || k["alg"] == nil || k["alg"] == "" {
			t.Errorf("key %s: use=%v alg=%v", kid, k["use"], k["alg"])
		}
	}
	for _, alg := range []keys.Algorithm{keys.ES256, keys.RS256, keys.EdDSA} {
		if _, ok := set.Signing(alg); !ok {
			t.Errorf("no active %s key", alg)
		}
	}
}

package keys

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeGen makes keys without key material: Plan never looks at it, and real
// RSA generation would make the tables slow.
func fakeGen() func(Algorithm, time.Time) (Key, error) {
	n := 0
	return func(alg Algorithm, now time.Time) (Key, error) {
		n++
		return Key{ID: fmt.Sprintf("%s-%d", alg, n), Algorithm: alg, State: StateNext, CreatedAt: now}, nil
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testSettings(algs ...Algorithm) Settings {
	s := DefaultSettings()
	if len(algs) > 0 {
		s.Algorithms = algs
	}
	return s
}

func key(id string, alg Algorithm, st State, created, activated, retired time.Time) Key {
	return Key{ID: id, Algorithm: alg, State: st, CreatedAt: created, ActivatedAt: activated, RetiredAt: retired}
}

// summary renders keys as "id:state" in Encode order, for readable tables.
func summary(ks []Key) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.ID+":"+string(k.State))
	}
	return strings.Join(out, " ")
}

func changes(cs []Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Kind)+" "+c.KID)
	}
	return strings.Join(out, ", ")
}

func TestPlan(t *testing.T) {
	day := 24 * time.Hour
	s := testSettings(ES256)
	var zero time.Time
	steady := []Key{
		key("a", ES256, StateActive, t0, t0, zero),
		key("b", ES256, StateNext, t0, zero, zero),
	}
	cases := []struct {
		name      string
		keys      []Key
		settings  Settings
		now       time.Time
		force     Force
		want      string // keys after the plan
		changes   string
		requeue   time.Duration
		forceDone bool
	}{
		{
			name: "first start signs at once and publishes the next key",
			now:  t0, want: "ES256-1:active ES256-2:next",
			changes: "Generated ES256-1, Activated ES256-1, Generated ES256-2",
			requeue: time.Hour,
		},
		{
			name: "first start with two algorithms", settings: testSettings(ES256, RS256),
			now: t0, want: "ES256-1:active ES256-2:next RS256-3:active RS256-4:next",
			changes: "Generated ES256-1, Activated ES256-1, Generated ES256-2, Generated RS256-3, Activated RS256-3, Generated RS256-4",
			requeue: time.Hour,
		},
		{
			name: "nothing due writes nothing", keys: steady,
			now: t0.Add(10 * day), want: "a:active b:next", requeue: time.Hour,
		},
		{
			name: "requeue lands on the rotation time", keys: steady,
			now: t0.Add(30*day - 10*time.Minute), want: "a:active b:next", requeue: 10 * time.Minute,
		},
		{
			name: "periodic rotation retires the old key and publishes a new next key", keys: steady,
			now: t0.Add(30 * day), want: "a:retired b:active ES256-1:next",
			changes: "Retired a, Activated b, Generated ES256-1",
			requeue: time.Hour,
		},
		{
			name: "rotation waits until the next key has been published long enough",
			keys: []Key{
				key("a", ES256, StateActive, t0, t0, zero),
				key("b", ES256, StateNext, t0.Add(30*day-90*time.Minute), zero, zero),
			},
			now: t0.Add(30 * day), want: "a:active b:next", requeue: 30 * time.Minute,
		},
		{
			name: "a missing next key is generated before it is needed",
			keys: []Key{key("a", ES256, StateActive, t0, t0, zero)},
			now:  t0.Add(day), want: "a:active ES256-1:next", changes: "Generated ES256-1", requeue: time.Hour,
		},
		{
			name: "a missing next key at rotation time delays the rotation by publish-ahead",
			keys: []Key{key("a", ES256, StateActive, t0, t0, zero)},
			now:  t0.Add(31 * day), want: "a:active ES256-1:next", changes: "Generated ES256-1", requeue: time.Hour,
		},
		{
			name: "retired key stays published while its tokens may live",
			keys: append([]Key{key("r", ES256, StateRetired, t0.Add(-60*day), t0.Add(-30*day), t0.Add(-time.Hour))}, steady...),
			now:  t0, want: "r:retired a:active b:next", requeue: time.Hour,
		},
		{
			name: "requeue lands on the removal of a retired key",
			keys: append([]Key{key("r", ES256, StateRetired, t0.Add(-60*day), t0.Add(-30*day), t0.Add(-24*time.Hour))}, steady...),
			now:  t0, want: "r:retired a:active b:next", requeue: 5 * time.Minute,
		},
		{
			name: "retired key is removed once every token it signed has expired",
			keys: append([]Key{key("r", ES256, StateRetired, t0.Add(-60*day), t0.Add(-30*day), t0.Add(-24*time.Hour-5*time.Minute))}, steady...),
			now:  t0, want: "a:active b:next", changes: "Removed r", requeue: time.Hour,
		},
		{
			name: "requested rotation happens before the period when the next key is published", keys: steady,
			now: t0.Add(3 * time.Hour), force: Force{Requested: true},
			want: "a:retired b:active ES256-1:next", changes: "Retired a, Activated b, Generated ES256-1",
			requeue: time.Hour, forceDone: true,
		},
		{
			name: "requested rotation still respects publish-ahead", keys: steady,
			now: t0.Add(time.Hour), force: Force{Requested: true},
			want: "a:active b:next", requeue: time.Hour, forceDone: false,
		},
		{
			name: "compromised key is removed and the next key signs at once", keys: steady,
			now: t0.Add(time.Minute), force: Force{Compromised: true},
			want: "b:active ES256-1:next", changes: "Removed a, Activated b, Generated ES256-1",
			requeue: time.Hour, forceDone: true,
		},
		{
			name: "compromised with no next key generates a replacement",
			keys: []Key{key("a", ES256, StateActive, t0, t0, zero)},
			now:  t0.Add(time.Minute), force: Force{Compromised: true},
			want: "ES256-1:active ES256-2:next", changes: "Removed a, Generated ES256-1, Activated ES256-1, Generated ES256-2",
			requeue: time.Hour, forceDone: true,
		},
		{
			name: "restart mid-rotation: two active keys, the newer keeps signing",
			keys: []Key{
				key("a", ES256, StateActive, t0, t0, zero),
				key("b", ES256, StateActive, t0, t0.Add(30*day), zero),
				key("c", ES256, StateNext, t0.Add(30*day), zero, zero),
			},
			now: t0.Add(30 * day), want: "a:retired b:active c:next", changes: "Retired a", requeue: time.Hour,
		},
		{
			name: "restart mid-rotation: two next keys, the extra is removed",
			keys: []Key{
				key("a", ES256, StateActive, t0, t0, zero),
				key("b", ES256, StateNext, t0, zero, zero),
				key("c", ES256, StateNext, t0.Add(time.Hour), zero, zero),
			},
			now: t0.Add(2 * time.Hour), want: "a:active b:next", changes: "Removed c", requeue: time.Hour,
		},
		{
			name: "restart mid-rotation: no active key, the published next key signs",
			keys: []Key{
				key("r", ES256, StateRetired, t0, t0, t0.Add(30*day)),
				key("b", ES256, StateNext, t0, zero, zero),
			},
			now: t0.Add(30 * day), want: "b:active r:retired ES256-1:next",
			changes: "Activated b, Generated ES256-1", requeue: time.Hour,
		},
		{
			// A verifier may hold a JWKS from before b was published: b
			// must not sign until publish-ahead has passed, even with
			// no active key (tokens of this algorithm wait meanwhile).
			name: "no active key: a next key younger than publish-ahead waits",
			keys: []Key{
				key("r", ES256, StateRetired, t0, t0, t0.Add(30*day-time.Hour)),
				key("b", ES256, StateNext, t0.Add(30*day-90*time.Minute), zero, zero),
			},
			now: t0.Add(30 * day), want: "r:retired b:next", requeue: 30 * time.Minute,
		},
		{
			name: "no active key: the next key signs once published for publish-ahead",
			keys: []Key{
				key("r", ES256, StateRetired, t0, t0, t0.Add(30*day-time.Hour)),
				key("b", ES256, StateNext, t0.Add(30*day-2*time.Hour), zero, zero),
			},
			now: t0.Add(30 * day), want: "r:retired b:active ES256-1:next",
			changes: "Activated b, Generated ES256-1", requeue: time.Hour,
		},
		{
			name: "an algorithm no longer configured retires its keys", settings: testSettings(RS256),
			keys: steady, now: t0.Add(day),
			want:    "a:retired b:retired RS256-1:active RS256-2:next",
			changes: "Generated RS256-1, Activated RS256-1, Generated RS256-2, Retired a, Retired b",
			requeue: time.Hour,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.settings
			if st.Algorithms == nil {
				st = s
			}
			in := append([]Key(nil), tc.keys...)
			got, err := Plan(tc.keys, st, tc.now, tc.force, fakeGen())
			if err != nil {
				t.Fatal(err)
			}
			if s := summary(got.Keys); s != tc.want {
				t.Errorf("keys = %q, want %q", s, tc.want)
			}
			if c := changes(got.Changes); c != tc.changes {
				t.Errorf("changes = %q, want %q", c, tc.changes)
			}
			if got.RequeueAfter != tc.requeue {
				t.Errorf("requeue = %v, want %v", got.RequeueAfter, tc.requeue)
			}
			if got.ForceDone != tc.forceDone {
				t.Errorf("forceDone = %v, want %v", got.ForceDone, tc.forceDone)
			}
			if summary(tc.keys) != summary(in) {
				t.Errorf("Plan modified its input: %q", summary(tc.keys))
			}
			assertOneActivePerAlg(t, got.Keys, st.Algorithms)
		})
	}
}

func assertOneActivePerAlg(t *testing.T, ks []Key, algs []Algorithm) {
	t.Helper()
	for _, alg := range algs {
		active, next := 0, 0
		for _, k := range ks {
			if k.Algorithm == alg && k.State == StateActive {
				active++
			}
			if k.Algorithm == alg && k.State == StateNext {
				next++
			}
		}
		if active > 1 || next > 1 {
			t.Errorf("%s: %d active and %d next keys", alg, active, next)
		}
	}
}

// TestPlanConverges replays a year of hourly reconciles, including restarts
// from older copies of the stored keys (a stale replica), and checks the
// invariants at every step.
func TestPlanConverges(t *testing.T) {
	s := testSettings(ES256, RS256)
	gen := fakeGen()
	var stored []Key
	now := t0
	var history [][]Key
	activations := 0
	for step := 0; step < 365*24; step++ {
		in := stored
		if step%97 == 0 && len(history) > 3 {
			// A stale replica plans from an old copy; its result is
			// then merged into the store as if it won a CAS race.
			in = append(append([]Key(nil), history[len(history)-3]...), stored...)
			in = dedupe(in)
		}
		res, err := Plan(in, s, now, Force{}, gen)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Changes {
			if c.Kind == Activated {
				activations++
			}
		}
		stored = res.Keys
		history = append(history, stored)
		// After a second plan at the same instant there is nothing left to do.
		again, err := Plan(stored, s, now, Force{}, gen)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Changes) != 0 {
			t.Fatalf("step %d: plan not idempotent: %s", step, changes(again.Changes))
		}
		for _, alg := range s.Algorithms {
			active := 0
			for _, k := range stored {
				if k.Algorithm == alg && k.State == StateActive {
					active++
					if k.ActivatedAt.Sub(k.CreatedAt) < s.PublishAhead && step > 0 && k.ActivatedAt.After(t0) {
						t.Fatalf("step %d: key %s signed %v after it was published", step, k.ID, k.ActivatedAt.Sub(k.CreatedAt))
					}
				}
			}
			if active != 1 {
				t.Fatalf("step %d: %s has %d active keys", step, alg, active)
			}
		}
		now = now.Add(time.Hour)
	}
	// 365 days / 30-day period: 12 rotations per algorithm plus the first key.
	if activations != 2*13 {
		t.Errorf("activations over a year = %d, want 26", activations)
	}
}

func dedupe(ks []Key) []Key {
	seen := map[string]int{}
	var out []Key
	for _, k := range ks {
		if i, ok := seen[k.ID]; ok {
			out[i] = k // the newer copy wins
			continue
		}
		seen[k.ID] = len(out)
		out = append(out, k)
	}
	return out
}

func TestEncodeIsDeterministic(t *testing.T) {
	res, err := Plan(nil, testSettings(ES256, RS256, EdDSA), t0, Force{}, GenerateKey)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Encode(res.Keys)
	if err != nil {
		t.Fatal(err)
	}
	reversed := append([]Key(nil), res.Keys...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	b, err := Encode(reversed)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("encoding depends on input order")
	}
	decoded, err := Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Encode(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(c) {
		t.Fatal("decode/encode round trip changed the bytes")
	}
	// A no-op plan of decoded keys encodes to the same bytes: the
	// controller writes nothing.
	again, err := Plan(decoded, testSettings(ES256, RS256, EdDSA), t0.Add(time.Minute), Force{}, GenerateKey)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Encode(again.Keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 || string(d) != string(a) {
		t.Fatalf("no-op plan changed the stored bytes (%d changes)", len(again.Changes))
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "{",
		"bad algorithm": `[{"kid":"x","alg":"HS256","state":"active","createdAt":"2026-01-01T00:00:00Z","jwk":{}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(in)); err == nil {
				t.Fatal("Decode accepted bad input")
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for name, mutate := range map[string]func(*Settings){
		"no algorithm":                    func(s *Settings) { s.Algorithms = nil },
		"unknown algorithm":               func(s *Settings) { s.Algorithms = []Algorithm{"HS256"} },
		"publish-ahead within JWKS cache": func(s *Settings) { s.PublishAhead = DefaultJWKSMaxAge },
		"rotation shorter than publish":   func(s *Settings) { s.RotationPeriod = s.PublishAhead },
		"retain shorter than a token":     func(s *Settings) { s.RetainAfterRetire = time.Hour },
	} {
		t.Run(name, func(t *testing.T) {
			s := DefaultSettings()
			mutate(&s)
			if err := s.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

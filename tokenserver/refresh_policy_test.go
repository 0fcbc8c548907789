package tokenserver

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

func TestDecideRefresh(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	const grace = 10 * time.Second
	cur, prev, older := digest("current"), digest("previous"), digest("older")
	fam := func(mod func(*store.Family)) *store.Family {
		f := &store.Family{
			ClientUID: "client", Current: cur, Previous: prev, RotatedAt: t0,
			CreatedAt: t0.Add(-time.Hour), LastUsedAt: t0, ExpiresAt: t0.Add(720 * time.Hour), IdleTTL: 168 * time.Hour,
		}
		if mod != nil {
			mod(f)
		}
		return f
	}
	cases := []struct {
		name      string
		f         *store.Family
		presented string
		client    types.UID
		now       time.Time
		want      refreshOutcome
	}{
		{"current token rotates", fam(nil), cur, "client", t0.Add(time.Minute), refreshRotate},
		{"current token at the last instant before absolute expiry", fam(nil), cur, "client", t0.Add(720*time.Hour - time.Nanosecond), refreshInvalid /* idle end comes first */},
		{"current token, idle end not reached", fam(func(f *store.Family) { f.LastUsedAt = t0.Add(700 * time.Hour) }), cur, "client", t0.Add(720*time.Hour - time.Nanosecond), refreshRotate},
		{"absolute expiry is exclusive", fam(func(f *store.Family) { f.LastUsedAt = t0.Add(700 * time.Hour) }), cur, "client", t0.Add(720 * time.Hour), refreshInvalid},
		{"idle expiry", fam(nil), cur, "client", t0.Add(168 * time.Hour), refreshInvalid},
		{"just before idle expiry", fam(nil), cur, "client", t0.Add(168*time.Hour - time.Second), refreshRotate},
		{"no idle limit", fam(func(f *store.Family) { f.IdleTTL = 0 }), cur, "client", t0.Add(500 * time.Hour), refreshRotate},
		{"another client's family", fam(nil), cur, "intruder", t0.Add(time.Minute), refreshInvalid},
		{"another client presenting a superseded token does not revoke", fam(nil), prev, "intruder", t0, refreshInvalid},
		{"previous token within grace is a retry", fam(nil), prev, "client", t0.Add(grace - time.Nanosecond), refreshRetry},
		{"previous token at the grace bound is a replay", fam(nil), prev, "client", t0.Add(grace), refreshReplay},
		{"previous token long after is a replay", fam(nil), prev, "client", t0.Add(time.Hour), refreshReplay},
		{"an older token is a replay", fam(nil), older, "client", t0.Add(time.Second), refreshReplay},
		{"no previous: an unknown token is a replay", fam(func(f *store.Family) { f.Previous = "" }), older, "client", t0, refreshReplay},
		{"empty digest never matches", fam(func(f *store.Family) { f.Current, f.Previous = "", "" }), "", "client", t0, refreshReplay},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := decideRefresh(c.f, c.presented, c.client, c.now, grace); got != c.want {
				t.Fatalf("decideRefresh = %v, want %v", got, c.want)
			}
		})
	}
	// --refresh-grace=0 turns the window off: the previous token is a
	// replay at once.
	if got := decideRefresh(fam(nil), prev, "client", t0, 0); got != refreshReplay {
		t.Fatalf("without grace, the previous token = %v, want replay", got)
	}
}

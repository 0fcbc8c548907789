package tokenserver

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// TestJTIRecord: a jti is refused until its assertion expires; a full record
// refuses new assertions with 503 rather than forgetting a live one, and
// makes room once entries expire.
func TestJTIRecord(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	j := newJTIRecord(2)
	if err := j.use("c\x00a", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := j.use("c\x00a", now.Add(time.Minute), now.Add(59*time.Second)); !errors.Is(err, errAssertionRefused) {
		t.Fatalf("replay: %v", err)
	}
	if err := j.use("other\x00a", now.Add(time.Minute), now); err != nil {
		t.Fatalf("the same jti of another client: %v", err)
	}
	var oe *oauth.Error
	if err := j.use("c\x00b", now.Add(time.Minute), now); !errors.As(err, &oe) || oe.Status != http.StatusServiceUnavailable {
		t.Fatalf("full record: %v, want 503", err)
	}
	later := now.Add(time.Minute)
	if err := j.use("c\x00b", later.Add(time.Minute), later); err != nil {
		t.Fatalf("after the entries expired: %v", err)
	}
	if err := j.use("c\x00a", later.Add(time.Minute), later); err != nil {
		t.Fatalf("a jti whose assertion expired: %v", err)
	}
}

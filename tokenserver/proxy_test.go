package tokenserver_test

// Attacker's tests of the source address behind proxies (issue 12): behind a
// trusted proxy the throttles key on the client the proxy names, so guesses
// through an Ingress do not lock out the owner behind the same Ingress; from
// any other peer a forged Forwarded or X-Forwarded-For header buys nothing.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
	"github.com/tokenwarden/tokenwarden/internal/throttle"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// pxPassword sends a password grant from the loopback peer with the given
// forwarding header (name, value).
func pxPassword(t *testing.T, base, id, secret, user, pw string, header ...string) response {
	t.Helper()
	return testhttp.Post(t, base+"/oauth/token", formType, form(
		"grant_type", "password", "username", user, "password", pw, "client_id", id, "client_secret", secret), header...)
}

// pxThrottled is a server whose user throttle blocks after 3 failures of one
// user from one source.
func pxThrottled(t *testing.T, trusted ...string) string {
	t.Helper()
	var ps []netip.Prefix
	for _, s := range trusted {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	base, _ := servertest.FakeClockServer(t, startServer, tokenserver.Options{
		UserThrottle:   throttle.Config{MaxFailures: 3, Window: time.Minute, MaxKeys: 1000},
		SourceThrottle: throttle.Config{MaxFailures: 1000, Window: time.Minute, MaxKeys: 1000},
		TrustedProxies: ps,
	})
	return base
}

func TestThrottleKeysOnClientBehindTrustedProxy(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	for _, c := range []struct{ name, header, guesser, owner string }{
		{"X-Forwarded-For", "X-Forwarded-For", "6.6.6.6, 198.51.100.7", "198.51.100.8"},
		{"Forwarded", "Forwarded", `for=198.51.100.7, for="[2001:db8:1::7]:4711"`, `for="[2001:db8:2::8]:4711"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := pxThrottled(t, "127.0.0.0/8")
			for range 10 {
				servertest.WantError(t, pxPassword(t, base, id, secret, "alice", "guess", c.header, c.guesser), 400, "invalid_grant", "guess through the proxy")
			}
			servertest.WantError(t, pxPassword(t, base, id, secret, "alice", pw, c.header, c.guesser), 400, "invalid_grant", "the right password from the guessing client")
			servertest.WantRefreshToken(t, pxPassword(t, base, id, secret, "alice", pw, c.header, c.owner), "the owner behind the same proxy")
		})
	}
}

func TestForgedForwardingHeadersBuyNoBudget(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("app", servertest.RefreshClient())
	_, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	for _, c := range []struct {
		name    string
		trusted []string
	}{
		{"no trusted proxies", nil},
		{"the peer is not a trusted proxy", []string{"10.0.0.0/8", "2001:db8::/32"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := pxThrottled(t, c.trusted...)
			// Every guess claims another client address; all are one source.
			for i, fwd := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
				hdr := "X-Forwarded-For"
				if i%2 == 1 {
					hdr, fwd = "Forwarded", "for="+fwd
				}
				servertest.WantError(t, pxPassword(t, base, id, secret, "alice", "guess", hdr, fwd), 400, "invalid_grant", "forged guess")
			}
			servertest.WantError(t, pxPassword(t, base, id, secret, "alice", pw, "X-Forwarded-For", "203.0.113.99"), 400, "invalid_grant",
				"the right password with a fresh forged address from the throttled peer")
		})
	}
}

package oauth

import (
	"errors"
	"net/url"
	"strings"
)

// CheckRedirectURI reports a redirect URI that may not be registered: it
// must be an absolute URL, https with a host, or http with exactly the
// loopback host 127.0.0.1, [::1] or localhost (any port; RFC 8252 §7.3),
// without userinfo and without a fragment (RFC 6749 §3.1.2). The URL is
// parsed, not prefix-matched: "http://localhost.attacker.example/cb" and
// "http://localhost@attacker.example/cb" are remote hosts. The OAuthClient
// CRD's CEL rules say the same with url(); the server checks again so a URI
// stored before those rules existed is never used.
func CheckRedirectURI(s string) error {
	// ParseRequestURI first, as CEL's isURL: it refuses relative references.
	if _, err := url.ParseRequestURI(s); err != nil {
		return errors.New("not an absolute URL")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not an absolute URL")
	case strings.Contains(s, "#"):
		return errors.New("a redirect URI must not have a fragment")
	case u.User != nil:
		return errors.New("a redirect URI must not have userinfo")
	case !strings.HasPrefix(s, u.Scheme+"://"+u.Host):
		// Nothing may stand between the scheme and the host a reader takes
		// for the host (nor may the scheme be written otherwise).
	case u.Scheme == "https" && u.Hostname() != "":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return errors.New("a redirect URI must be https, or http on 127.0.0.1, [::1] or localhost")
}

func isLoopbackHost(h string) bool {
	return h == "127.0.0.1" || h == "::1" || h == "localhost"
}

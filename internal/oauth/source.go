package oauth

import (
	"net"
	"net/http"
)

// SourceAddr is the client's IP for throttling. Proxies are not trusted: the
// TCP peer is the source (a deployment behind a proxy throttles per proxy).
func SourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// QuoteShort quotes a value for an error description, truncated.
func QuoteShort(s string) string { return `"` + Truncate(s) + `"` }

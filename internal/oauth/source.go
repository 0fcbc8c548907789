package oauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the address ranges whose Forwarded and X-Forwarded-For
// headers are believed. Empty trusts no one: the TCP peer is the source.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of CIDRs; a bare address
// is a single host. An empty string is no proxy.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var ps TrustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q is not a CIDR or an address", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// Contains tells whether a is inside one of the ranges (an IPv4-mapped IPv6
// address counts as its IPv4 address).
func (t TrustedProxies) Contains(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ResolveSource returns the address of the client a request came from, for
// throttling. remoteAddr is the TCP peer (http.Request.RemoteAddr). When the
// peer is a trusted proxy, the forwarding chain is walked from the right (the
// entries appended by the proxies nearest to the server) past trusted hops
// to the first untrusted address: entries further left were written by the
// client and can be anything. X-Forwarded-For is read when present, since
// every common proxy appends to it and a client can forge a Forwarded header
// that such a proxy passes on; otherwise Forwarded (RFC 7239 for=). An
// untrusted hop that is not an address ("unknown", garbage) is answered with
// the trusted hop that reported it; an obfuscated identifier (RFC 7239 §6.3,
// "_abc") that a trusted proxy wrote is the source as it is.
func ResolveSource(remoteAddr string, h http.Header, trusted TrustedProxies) string {
	hop := peerAddr(remoteAddr)
	peer, err := netip.ParseAddr(hop)
	if err != nil || len(trusted) == 0 || !trusted.Contains(peer) {
		return hop
	}
	chain := forwardedFor(h)
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseNode(chain[i])
		switch {
		case !ok && isObfuscated(chain[i]):
			return chain[i]
		case !ok:
			return hop
		case !trusted.Contains(a):
			return a.String()
		}
		hop = a.String()
	}
	// Every hop is trusted: the leftmost is the client.
	return hop
}

// forwardedFor is the chain of client addresses the headers list, the
// farthest first.
func forwardedFor(h http.Header) []string {
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		var chain []string
		for _, line := range xff {
			for _, e := range strings.Split(line, ",") {
				chain = append(chain, strings.TrimSpace(e))
			}
		}
		return chain
	}
	var chain []string
	for _, line := range h.Values("Forwarded") {
		for _, elem := range splitOutsideQuotes(line, ',') {
			// An element without for= still stands for a hop (RFC 7239 §4);
			// it is not an address, which stops the walk there.
			node := ""
			for _, pair := range splitOutsideQuotes(elem, ';') {
				k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(strings.TrimSpace(k), "for") {
					node = unquote(strings.TrimSpace(v))
				}
			}
			chain = append(chain, node)
		}
	}
	return chain
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted string.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote undoes an RFC 9110 quoted-string; a token is returned as it is.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// parseNode reads an address with an optional port: "192.0.2.1",
// "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711".
func parseNode(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// isObfuscated tells whether s is an RFC 7239 §6.3 obfuscated identifier,
// with an optional obfuscated port.
func isObfuscated(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] != '_' {
		return false
	}
	for _, c := range s[1:] {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// peerAddr is the host part of a TCP peer address.
func peerAddr(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

type sourceKey struct{}

// WithSource returns a context carrying the resolved source address.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceAddr is the client's address for throttling: the one Sources
// resolved for the request, or the TCP peer when no resolution ran.
func SourceAddr(r *http.Request) string {
	if s, ok := r.Context().Value(sourceKey{}).(string); ok {
		return s
	}
	return peerAddr(r.RemoteAddr)
}

// Sources resolves each request's source once (ResolveSource) and puts it in
// the request's context, where SourceAddr finds it; every handler behind it
// keys its throttles on the same address.
func Sources(trusted TrustedProxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := ResolveSource(r.RemoteAddr, r.Header, trusted)
		next.ServeHTTP(w, r.WithContext(WithSource(r.Context(), src)))
	})
}

// QuoteShort quotes a value for an error description, truncated.
func QuoteShort(s string) string { return `"` + Truncate(s) + `"` }

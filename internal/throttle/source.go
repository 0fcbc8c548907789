package throttle

import "net/netip"

// SourceKey is the throttle key of a source address: an IPv4 address as
// itself (an IPv4-mapped IPv6 address as the IPv4 address), an IPv6 address
// as its /64 ("2001:db8:1:2::/64"), since one host or site normally holds a
// whole /64 and could otherwise take a fresh budget per address. A zone and
// a port are dropped; anything that is not an address is its own key.
func SourceKey(source string) string {
	a, err := netip.ParseAddr(source)
	if err != nil {
		ap, perr := netip.ParseAddrPort(source)
		if perr != nil {
			return source
		}
		a = ap.Addr()
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return source
	}
	return p.String()
}

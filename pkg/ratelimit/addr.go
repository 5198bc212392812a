package ratelimit

import "net/netip"

// ClientKey is the throttle key of a client address: an IPv4 address as
// it is, an IPv6 address as its /64 network. One subscriber, host or VM is
// routinely given a whole /64 and can pick a fresh address in it for every
// attempt, so counting failures per IPv6 address would let one client
// multiply every per-IP limit by 2^64. An IPv4 address written as IPv6
// (::ffff:a.b.c.d) is the IPv4 address. Anything that is not an address
// is its own key.
func ClientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// SiteKey is the throttle key of the site a client address belongs to: an
// IPv6 address's /48, the block a provider commonly delegates to one
// subscriber, who can spread attempts over its 65,536 /64s; ok is false for
// IPv4 addresses (ClientKey already counts each of them alone) and for
// anything that is not an address.
func SiteKey(addr string) (key string, ok bool) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return "", false
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return "", false
	}
	return netip.PrefixFrom(ip, 48).Masked().String(), true
}

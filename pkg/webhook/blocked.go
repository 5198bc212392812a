package webhook

import "net/netip"

// blockedRange is a range of addresses the server never contacts, with the
// word that tells the endpoint's owner why.
type blockedRange struct {
	prefix netip.Prefix
	kind   string
}

// blockedRanges lists every range that is not the public internet. Loopback
// is apart because AllowLoopback lifts it, and IPv6 forms that carry an IPv4
// address (mapped, NAT64, 6to4) are judged by that address in blockedKind
// instead of appearing here. Documentation ranges are blocked: no receiver
// can live there, and a URL naming one is a mistake worth telling.
var blockedRanges = []blockedRange{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"}, // with the cloud metadata service, 169.254.169.254
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved"}, // former 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // with the broadcast address 255.255.255.255

	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::/96"), "reserved"},           // the deprecated IPv4-compatible form
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "reserved"}, // IPv4-translated, never routed on the internet
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"},   // NAT64 for local use, which may lead anywhere inside
	{netip.MustParsePrefix("100::/64"), "reserved"},        // discard-only
	{netip.MustParsePrefix("2001::/32"), "reserved"},       // Teredo: the real IPv4 hides behind it
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	{netip.MustParsePrefix("2001:10::/28"), "reserved"}, // ORCHID
	{netip.MustParsePrefix("2001:20::/28"), "reserved"}, // ORCHIDv2
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("fc00::/7"), "private"}, // unique local, with the AWS metadata service, fd00:ec2::254
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "private"}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Prefixes whose IPv6 addresses carry an IPv4 address that is where the
// packets finally go.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// Blocked reports whether ip may not be contacted. Blocked are the
// unspecified addresses, loopback (unless AllowLoopback), private, shared,
// link-local (with the cloud metadata addresses 169.254.169.254 and
// fd00:ec2::254), benchmarking, documentation, reserved, broadcast and
// multicast addresses, and an invalid ip. An IPv4-mapped, NAT64
// (64:ff9b::/96) or 6to4 (2002::/16) address is judged as the IPv4 address
// inside it.
func (g *Guard) Blocked(ip netip.Addr) bool {
	return g.blockedKind(ip) != ""
}

// blockedKind returns why ip is blocked, or "" when it may be contacted.
func (g *Guard) blockedKind(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	ip = embeddedIPv4(ip.WithZone(""))
	if ip.IsLoopback() {
		if g.AllowLoopback {
			return ""
		}
		return "loopback"
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.kind
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address that an IPv4-mapped, NAT64 or 6to4
// address leads to, and any other address unchanged, so that no IPv6 spelling
// of a private IPv4 address gets past the IPv4 ranges.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return ip
}

package ratelimit

import "testing"

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"not an address", "not an address"},
	} {
		if got := ClientKey(tc.addr); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestSiteKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr, want string
		ok         bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1::/48", true},
		{"2001:db8:1:ffff:aaaa::1", "2001:db8:1::/48", true},
		{"2001:db8:2::1", "2001:db8:2::/48", true},
		{"203.0.113.7", "", false},
		{"::ffff:203.0.113.7", "", false},
		{"not an address", "", false},
	} {
		if got, ok := SiteKey(tc.addr); got != tc.want || ok != tc.ok {
			t.Errorf("SiteKey(%q) = %q, %v, want %q, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}

package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// fakeResolver answers from a map of host names to addresses, so that no
// test depends on the real DNS; a name it lacks does not exist.
type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: net.ParseIP(ip)}
	}
	return out, nil
}

// testResolver knows a public name, one for every kind of blocked address,
// and one with both.
var testResolver = fakeResolver{
	"hooks.example.com":    {"93.184.216.34", "2606:4700::1111"},
	"loopback.example.com": {"127.0.0.1"},
	"v6loop.example.com":   {"::1"},
	"private.example.com":  {"10.0.0.1"},
	"metadata.example.com": {"169.254.169.254"},
	"mixed.example.com":    {"93.184.216.34", "10.0.0.1"},
	"empty.example.com":    {},
}

func TestBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip            string
		blocked       bool
		blockedAllowL bool // with AllowLoopback
	}{
		{"127.0.0.1", true, false},
		{"127.255.0.9", true, false},
		{"::1", true, false},
		{"::ffff:127.0.0.1", true, false},
		{"10.0.0.1", true, true},
		{"172.16.5.4", true, true},
		{"192.168.1.1", true, true},
		{"169.254.169.254", true, true},
		{"fe80::1", true, true},
		{"fc00::1", true, true},
		{"fd00:ec2::254", true, true},
		{"::ffff:10.0.0.1", true, true},
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"100.64.0.1", true, true},
		{"192.0.0.8", true, true},
		{"198.18.0.1", true, true},
		{"240.0.0.1", true, true},
		{"255.255.255.255", true, true},
		{"224.0.0.1", true, true},
		{"ff02::1", true, true},
		{"192.0.2.1", true, true},      // documentation: blocked
		{"2001:db8::1", true, true},    // documentation: blocked
		{"64:ff9b::a00:1", true, true}, // NAT64 of 10.0.0.1
		{"2002:a00:1::", true, true},   // 6to4 of 10.0.0.1
		{"::a00:1", true, true},        // IPv4-compatible, deprecated
		{"93.184.216.34", false, false},
		{"2606:4700::1111", false, false},
		{"8.8.8.8", false, false},
		{"::ffff:8.8.8.8", false, false},
		{"64:ff9b::808:808", false, false}, // NAT64 of 8.8.8.8
		{"2002:808:808::", false, false},   // 6to4 of 8.8.8.8
	}
	strict := &webhook.Guard{}
	dev := &webhook.Guard{AllowLoopback: true}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tt.ip)
			if got := strict.Blocked(ip); got != tt.blocked {
				t.Errorf("Blocked(%s) = %v, want %v", ip, got, tt.blocked)
			}
			if got := dev.Blocked(ip); got != tt.blockedAllowL {
				t.Errorf("with AllowLoopback, Blocked(%s) = %v, want %v", ip, got, tt.blockedAllowL)
			}
		})
	}
}

func TestBlockedInvalidAddress(t *testing.T) {
	t.Parallel()
	if !(&webhook.Guard{AllowLoopback: true}).Blocked(netip.Addr{}) {
		t.Error("the zero netip.Addr is allowed")
	}
}

func TestCheckURLAllowed(t *testing.T) {
	t.Parallel()
	g := &webhook.Guard{Resolver: testResolver}
	for _, raw := range []string{
		"https://hooks.example.com/x",
		"https://hooks.example.com:8443/x?tenant=42",
		"https://93.184.216.34/hook",
		"https://[2606:4700::1111]/hook",
		"https://hooks.example.com/" + strings.Repeat("a", webhook.MaxURLLen-len("https://hooks.example.com/")),
	} {
		if err := g.CheckURL(context.Background(), raw); err != nil {
			t.Errorf("CheckURL(%.60q) = %v, want nil", raw, err)
		}
	}
}

func TestCheckURLRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, reason string // reason: a part of URLError.Reason
	}{
		{"loopback literal", "https://127.0.0.1/", "loopback address (127.0.0.1)"},
		{"loopback v6 literal", "https://[::1]/", "loopback address (::1)"},
		{"private literal", "https://10.0.0.1/", "private address (10.0.0.1)"},
		{"metadata literal", "https://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"mapped private literal", "https://[::ffff:10.0.0.1]/", "private address"},
		{"loopback name", "https://loopback.example.com/", "loopback address (127.0.0.1)"},
		{"loopback v6 name", "https://v6loop.example.com/", "loopback address (::1)"},
		{"private name", "https://private.example.com/", "private address (10.0.0.1)"},
		{"metadata name", "https://metadata.example.com/", "link-local address (169.254.169.254)"},
		{"one public one private", "https://mixed.example.com/", "private address (10.0.0.1)"},
		{"unknown name", "https://nowhere.example.com/", "does not resolve"},
		{"name without addresses", "https://empty.example.com/", "does not resolve"},
		{"plain http", "http://hooks.example.com/x", "must use https"},
		{"other scheme", "ftp://hooks.example.com/x", "must use https"},
		{"userinfo", "https://user:pw@hooks.example.com/x", "user name or password"},
		{"user only", "https://user@hooks.example.com/x", "user name or password"},
		{"fragment", "https://hooks.example.com/x#part", "fragment"},
		{"empty fragment", "https://hooks.example.com/x#", "fragment"},
		{"relative", "/hooks/x", "absolute"},
		{"no scheme", "hooks.example.com/x", "absolute"},
		{"opaque", "https:hooks.example.com", "absolute"},
		{"no host", "https:///x", "host"},
		{"too long", "https://hooks.example.com/" + strings.Repeat("a", webhook.MaxURLLen), "at most 2048"},
		{"port zero", "https://hooks.example.com:0/", "port"},
		{"port too big", "https://hooks.example.com:65536/", "port"},
		{"port letters", "https://hooks.example.com:https/", "valid URL"},
		{"control character", "https://hooks.example.com/\x7f", "valid URL"},
	}
	g := &webhook.Guard{Resolver: testResolver}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := g.CheckURL(context.Background(), tt.raw)
			var ue *webhook.URLError
			if !errors.As(err, &ue) {
				t.Fatalf("CheckURL(%.60q) = %v, want a *URLError", tt.raw, err)
			}
			if !strings.Contains(ue.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ue.Reason, tt.reason)
			}
			if strings.Contains(ue.Reason, "pw") {
				t.Errorf("Reason %q repeats the password", ue.Reason)
			}
		})
	}
}

func TestCheckURLAllowLoopback(t *testing.T) {
	t.Parallel()
	g := &webhook.Guard{AllowLoopback: true, Resolver: testResolver}
	for _, raw := range []string{
		"http://127.0.0.1:8080/hook",
		"https://[::1]/hook",
		"http://loopback.example.com/hook",
		"http://hooks.example.com/hook",
	} {
		if err := g.CheckURL(context.Background(), raw); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", raw, err)
		}
	}
	// Loopback is the only range that development opens.
	for _, raw := range []string{"https://10.0.0.1/", "http://metadata.example.com/", "ftp://127.0.0.1/"} {
		var ue *webhook.URLError
		if err := g.CheckURL(context.Background(), raw); !errors.As(err, &ue) {
			t.Errorf("CheckURL(%q) = %v, want a *URLError", raw, err)
		}
	}
}

func TestCheckURLContextError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&webhook.Guard{Resolver: testResolver}).CheckURL(ctx, "https://hooks.example.com/x")
	var ue *webhook.URLError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
		t.Errorf("CheckURL with a cancelled context = %v, want context.Canceled and no URLError", err)
	}
}

func TestURLErrorMessage(t *testing.T) {
	t.Parallel()
	err := &webhook.URLError{Reason: "must use https"}
	if got := err.Error(); !strings.HasSuffix(got, "must use https") {
		t.Errorf("Error() = %q, want it to end with the reason", got)
	}
}

// TestURLLimitIsTheDomains: the sender's bound on a URL is the one the
// domain validates and the document states.
func TestURLLimitIsTheDomains(t *testing.T) {
	t.Parallel()
	if webhook.MaxURLLen != lms.MaxWebhookURLLen {
		t.Fatalf("webhook.MaxURLLen %d, lms.MaxWebhookURLLen %d", webhook.MaxURLLen, lms.MaxWebhookURLLen)
	}
}

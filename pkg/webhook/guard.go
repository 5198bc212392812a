package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Resolver is what Guard resolves host names with; *net.Resolver implements
// it. Tests give a fake one so that no check depends on the real DNS.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Guard decides which URLs and addresses the server may contact. The zero
// value is the production guard: https only, public addresses only, names
// resolved with net.DefaultResolver.
type Guard struct {
	// AllowLoopback lets URLs reach loopback addresses (127.0.0.0/8, ::1) and
	// use plain http: development only, where the receiver runs beside the
	// server.
	AllowLoopback bool
	// Resolver resolves host names; net.DefaultResolver when nil.
	Resolver Resolver

	// dialer connects to the checked addresses; a net.Dialer when nil. Tests
	// replace it to see what the client dials without opening a connection.
	dialer contextDialer
}

// contextDialer is the part of *net.Dialer the client dials with.
type contextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// MaxURLLen bounds an endpoint URL, so a stored endpoint row and the attempt
// log stay small whatever a customer submits.
const MaxURLLen = 2048

// URLError is a URL or address refused by the guard. Reason is written for
// the endpoint's owner and is safe to show to the client, e.g. "must use
// https" or "resolves to a private address (10.0.0.1)".
type URLError struct{ Reason string }

// Error returns the refusal with its reason.
func (e *URLError) Error() string { return "webhook URL refused: " + e.Reason }

// CheckURL reports whether raw may be registered as an endpoint URL. It must
// be an absolute https URL (plain http too with AllowLoopback) of at most
// MaxURLLen bytes, with a host, a port in 1-65535 if it names one, and no
// user information or fragment; and every address the host resolves to must
// be one that Blocked allows, since a receiver may answer from any of them.
//
// Every refusal is a *URLError; an error from ctx is returned as is, so a
// cancelled request is not reported as a bad URL.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	host, err := g.checkSyntax(raw)
	if err != nil {
		return err
	}
	_, err = g.resolveAllowed(ctx, host)
	return err
}

// checkSyntax applies every rule that needs no resolution and returns the
// host to resolve.
func (g *Guard) checkSyntax(raw string) (string, error) {
	if len(raw) > MaxURLLen {
		return "", &URLError{Reason: fmt.Sprintf("must be at most %d characters", MaxURLLen)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's message quotes the URL, which may carry a password.
		return "", &URLError{Reason: "is not a valid URL"}
	}
	if !u.IsAbs() || u.Opaque != "" {
		return "", &URLError{Reason: "must be an absolute URL"}
	}
	if err := g.checkScheme(u.Scheme); err != nil {
		return "", err
	}
	if u.User != nil {
		return "", &URLError{Reason: "must not contain a user name or password"}
	}
	// A bare "#" leaves Fragment empty, so the raw text is what tells.
	if strings.Contains(raw, "#") {
		return "", &URLError{Reason: "must not contain a fragment"}
	}
	if u.Hostname() == "" {
		return "", &URLError{Reason: "must have a host"}
	}
	if err := checkPort(u.Port()); err != nil {
		return "", err
	}
	return u.Hostname(), nil
}

// checkScheme refuses every scheme but https, and plain http outside
// development: a signed body sent in the clear can be read and replayed.
func (g *Guard) checkScheme(scheme string) error {
	if scheme == "https" || (scheme == "http" && g.AllowLoopback) {
		return nil
	}
	return &URLError{Reason: "must use https"}
}

// checkPort accepts an absent port (the scheme's default) or one in 1-65535;
// the URL parser checks only that a port is made of digits.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return &URLError{Reason: "must have a port between 1 and 65535"}
	}
	return nil
}

// resolveAllowed resolves host and returns its addresses only if every one
// is allowed. CheckURL and the client's dialer both go through it, so a URL
// that was registered and a connection that is dialed obey one rule.
func (g *Guard) resolveAllowed(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if kind := g.blockedKind(a); kind != "" {
			return nil, &URLError{Reason: fmt.Sprintf("resolves to %s %s address (%s)", article(kind), kind, a)}
		}
	}
	return addrs, nil
}

// resolve turns host, an IP literal or a name, into addresses. A name with
// no address is a *URLError; an error from ctx is returned as is.
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ipAddrs, err := r.LookupIPAddr(ctx, host)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	if err != nil || len(ipAddrs) == 0 {
		return nil, &URLError{Reason: "does not resolve"}
	}
	addrs := make([]netip.Addr, 0, len(ipAddrs))
	for _, ia := range ipAddrs {
		a, ok := netip.AddrFromSlice(ia.IP)
		if !ok {
			return nil, &URLError{Reason: "does not resolve"}
		}
		// net.IP holds IPv4 in its 16-byte form; unmapped, it is shown and
		// dialed as the IPv4 address it is.
		addrs = append(addrs, a.Unmap().WithZone(ia.Zone))
	}
	return addrs, nil
}

// article is the indefinite article before an address kind.
func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an"
	}
	return "a"
}

package webhook

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Bounds of one connection. A receiver that cannot connect or finish a TLS
// handshake in this time is down, and waiting longer only holds a worker.
const (
	dialTimeout         = 5 * time.Second
	tlsHandshakeTimeout = 5 * time.Second
	// Messages to one endpoint go out one after another, so a couple of idle
	// connections are all that reuse needs.
	maxIdleConnsPerHost = 2
	// A receiver's headers are of no interest beyond the status; this keeps a
	// hostile one from making the server buffer megabytes of them.
	maxResponseHeaderBytes = 64 << 10
)

// Client returns an *http.Client for sending webhooks that reaches only
// addresses the guard allows. Its dialer resolves the host itself, checks
// every address and dials a checked IP literal, so a name that answers
// differently after CheckURL (DNS rebinding) is refused before any connection
// is attempted. It never uses a proxy, which would do its own resolving, and
// follows no redirect, whose target was never checked: a 3xx is the answer.
// Plain http is refused unless AllowLoopback, as in CheckURL.
//
// timeout bounds the whole exchange, body included, and the wait for the
// answer's headers; zero means no bound, which a sender should never want.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	if !g.AllowLoopback {
		// The dialer does not see the scheme, so plain http is stopped here,
		// for a URL stored before CheckURL refused it as well.
		transport.RegisterProtocol("http", refuseRoundTripper{reason: "must use https"})
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dialContext connects to addr, a host and port taken from the request URL,
// by way of the guard's own resolution: the name is never handed to the
// system's dialer, which would resolve it again.
func (g *Guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return nil, &URLError{Reason: "must have a port between 1 and 65535"}
	}
	addrs, err := g.resolveAllowed(ctx, host)
	if err != nil {
		return nil, err
	}
	return g.dialFirst(ctx, network, addrs, uint16(port))
}

// dialFirst tries the checked addresses in the resolver's order and returns
// the first connection made, or the first error: like the system's dialer,
// so that the attempt log names one cause on one line.
func (g *Guard) dialFirst(ctx context.Context, network string, addrs []netip.Addr, port uint16) (net.Conn, error) {
	d := g.dialer
	if d == nil {
		d = &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	}
	var first error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, port).String())
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// refuseRoundTripper answers every request with a refusal.
type refuseRoundTripper struct{ reason string }

// RoundTrip refuses req, closing its body as every RoundTripper must.
func (rt refuseRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return nil, &URLError{Reason: rt.reason}
}

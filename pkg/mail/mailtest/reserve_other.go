//go:build !unix

package mailtest

import (
	"net"
	"testing"
)

// reserve finds a free 127.0.0.1 port, closed until listen. Without the
// Unix socket calls to hold it, the port is only closed meanwhile, so a
// listener opened elsewhere could be given it.
func reserve(tb testing.TB) (addr string, listen func() (net.Listener, error)) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr = ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr, func() (net.Listener, error) { return net.Listen("tcp", addr) }
}

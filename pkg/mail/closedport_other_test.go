//go:build !unix

package mail

import (
	"net"
	"testing"
)

// closedPort returns a 127.0.0.1 address that nothing listens on. Without the
// Unix socket calls to hold the port, it is only closed, so a listener opened
// meanwhile could be given it; the Unix version avoids that.
func closedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close: %v", err)
	}
	return addr
}

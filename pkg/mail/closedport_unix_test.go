//go:build unix

package mail

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// closedPort returns a 127.0.0.1 address that refuses connections until the
// test ends. A socket is bound to the port but never listens: the kernel
// answers a connection attempt with a reset, and, the port being taken, it
// cannot hand it to a listener opened meanwhile, such as a parallel test's
// SMTP server. A port that was only listened on and closed at once could be:
// the client then delivered to that server instead of being refused, and
// both tests failed.
func closedPort(tb testing.TB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	// No SO_REUSEADDR: nothing else can bind the port while fd holds it.
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok || in4.Port == 0 {
		tb.Fatalf("getsockname returned %#v", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))
}

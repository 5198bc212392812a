//go:build unix

package mailtest

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// reserve binds a socket to a free 127.0.0.1 port without listening on it:
// the kernel answers a connection attempt with a reset, as for a closed
// port, and, the port being taken, cannot hand it to another listener.
// listen then starts listening on that very socket.
func reserve(tb testing.TB) (addr string, listen func() (net.Listener, error)) {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	owned := true // until listen hands fd to a listener
	tb.Cleanup(func() {
		if owned {
			_ = syscall.Close(fd)
		}
	})
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
	listen = func() (net.Listener, error) {
		if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
			return nil, err
		}
		owned = false
		f := os.NewFile(uintptr(fd), "mailtest")
		defer f.Close() // the listener holds a duplicate
		return net.FileListener(f)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port)), listen
}

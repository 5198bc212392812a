package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStillOpenTellsClosedConnections: the idle check counts the
// connections a server holds and not those it closed.
func TestStillOpenTellsClosedConnections(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns, err := openIdleConns(ctx, addr, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(conns)
	if n := stillOpen(conns); n != 3 {
		t.Fatalf("%d of 3 open, want 3", n)
	}
	srv.CloseClientConnections()
	for deadline := time.Now().Add(5 * time.Second); stillOpen(conns) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d still counted open after the server closed them", stillOpen(conns))
		}
	}
}

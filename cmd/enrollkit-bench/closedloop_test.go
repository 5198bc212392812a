package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestClosedLoop drives a local server with the lean client: requests
// arrive whole (method, path, headers, body), answers with a length, chunked
// and closing the connection are all read, a connection the server closes is
// dialled again, and MaxHits bounds the run.
func TestClosedLoop(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.RequestURI() != "/api/v1/things?x=1" ||
			r.Header.Get("Authorization") != "Bearer tok" || string(body) != `{"a":1}` {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		switch n % 3 {
		case 0: // chunked: larger than net/http's buffer, no length
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
		case 1:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"invitation_full"}`))
		default:
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("{}"))
		}
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want 127.0.0.1", srv.URL)
	}
	tr := func(tg *vegeta.Target) error {
		tg.Method, tg.URL, tg.Body = http.MethodPost, srv.URL+"/api/v1/things?x=1", []byte(`{"a":1}`)
		tg.Header = http.Header{"Authorization": {"Bearer tok"}, "Content-Type": {"application/json"}}
		return nil
	}
	codes := map[int]int{}
	var sample []byte
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closedLoop(ctx, tr, runMode{Closed: true, Workers: 4, MaxHits: 300}, func(h hit) {
		codes[h.Code]++
		if h.Code == http.StatusConflict && sample == nil {
			sample = h.Body
		}
		if h.Error != "" {
			t.Errorf("hit failed: %s", h.Error)
		}
	})
	if total := codes[200] + codes[201] + codes[409]; total != 300 || codes[400] != 0 || served.Load() != 300 {
		t.Fatalf("codes %v, %d served; want 300 answers of 200, 201 and 409", codes, served.Load())
	}
	if string(sample) != `{"code":"invitation_full"}` {
		t.Fatalf("the start of an unexpected answer's body = %q", sample)
	}
}

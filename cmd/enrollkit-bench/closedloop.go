package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// hit is one answered (or failed) request of a run.
type hit struct {
	Method, URL string
	Code        int // 0 when no answer came
	Start       time.Time
	Latency     time.Duration
	Body        []byte // the start of the body, for diagnosis
	Error       string
}

// closedLoop sends m.Workers requests at a time from tr, each worker
// sending its next request as soon as the last one is answered, for
// m.Duration or until m.MaxHits requests were sent, and reports every hit.
//
// Each worker writes HTTP/1.1 requests on its own kept-alive connection
// and reads the answers with net/http's parser, without an http.Client:
// the peak is compared with pgbench, a lean C client, and vegeta's client
// machinery cost three times pgbench's CPU per request, CPU that the
// server and PostgreSQL then did not have on the same cores.
//
// For the same reason the workers share one Go processor while the loop
// runs: with two, every answer woke a second thread to run its worker,
// and the loop cost 0.048 instead of 0.042 ms of CPU per list request
// (the server's list at 3,700-4,200 req/s, the same client either way;
// pgbench's client costs 0.028 ms per transaction).
func closedLoop(ctx context.Context, tr vegeta.Targeter, m runMode, report func(hit)) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if m.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, m.Duration)
		defer stop()
	}
	var sent atomic.Uint64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range m.Workers {
		wg.Go(func() {
			w := &loopWorker{}
			defer w.close()
			for ctx.Err() == nil {
				if m.MaxHits > 0 && sent.Add(1) > m.MaxHits {
					return
				}
				var t vegeta.Target
				if err := tr(&t); err != nil {
					if !errors.Is(err, vegeta.ErrNoTargets) {
						mu.Lock()
						report(hit{Error: err.Error(), Start: time.Now()})
						mu.Unlock()
					}
					return
				}
				h := w.do(&t)
				mu.Lock()
				report(h)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// loopWorker is one closed-loop worker's connection and buffers.
type loopWorker struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body [512]byte
}

func (w *loopWorker) close() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

// do sends t and reads its answer, (re)connecting as needed.
func (w *loopWorker) do(t *vegeta.Target) hit {
	h := hit{Method: t.Method, URL: t.URL, Start: time.Now()}
	u, err := url.Parse(t.URL)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
		if err != nil {
			h.Error = err.Error()
			return h
		}
		w.conn, w.br = c, bufio.NewReaderSize(c, 32<<10)
	}
	w.req = append(w.req[:0], t.Method...)
	w.req = append(w.req, ' ')
	w.req = append(w.req, u.RequestURI()...)
	w.req = append(w.req, " HTTP/1.1\r\nHost: "...)
	w.req = append(w.req, u.Host...)
	w.req = append(w.req, "\r\n"...)
	for k, vs := range t.Header {
		for _, v := range vs {
			w.req = append(w.req, k...)
			w.req = append(w.req, ": "...)
			w.req = append(w.req, v...)
			w.req = append(w.req, "\r\n"...)
		}
	}
	if len(t.Body) > 0 || t.Method == http.MethodPost || t.Method == http.MethodPut || t.Method == http.MethodPatch {
		w.req = append(w.req, "Content-Length: "...)
		w.req = strconv.AppendInt(w.req, int64(len(t.Body)), 10)
		w.req = append(w.req, "\r\n"...)
	}
	w.req = append(w.req, "\r\n"...)
	w.req = append(w.req, t.Body...)
	_ = w.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := w.conn.Write(w.req); err != nil {
		w.close()
		h.Error, h.Latency = err.Error(), time.Since(h.Start)
		return h
	}
	res, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.close()
		h.Error, h.Latency = err.Error(), time.Since(h.Start)
		return h
	}
	n, _ := io.ReadFull(res.Body, w.body[:])
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	h.Latency, h.Code = time.Since(h.Start), res.StatusCode
	if err != nil || res.Close {
		w.close()
	}
	if h.Code < 200 || h.Code >= 300 {
		h.Body = append([]byte(nil), w.body[:n]...)
	}
	return h
}

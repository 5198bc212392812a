package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// idleConns is how many idle keep-alive connections the server is made to
// hold while a read's peak is measured once more: what a burst of clients,
// or a proxy's pool, leaves open. Each costs the server a goroutine and
// its buffers; the throughput beside them must not fall far (targets).
const idleConns = 2000

// openIdleConns opens n connections to the server at addr, sends one
// request on each and leaves it open and idle. It returns them for the
// caller to close.
func openIdleConns(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	d := net.Dialer{Timeout: 10 * time.Second}
	for range 32 {
		wg.Go(func() {
			for i := range next {
				c, err := openIdleConn(ctx, &d, addr)
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		closeAll(conns)
		return nil, first
	}
	return conns, nil
}

func openIdleConn(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nAccept: application/json\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
			err = fmt.Errorf("GET /healthz: status %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// measureBesideIdle runs the workload's closed loop twice, back to back:
// without idle connections, then while the server holds idleConns idle
// keep-alive connections. Run after the scale's other workloads, the data
// are not what they were at the peak run (the redemptions add members to
// the listed groups), so the first run is the comparison, not the peak.
func (sr *scaleRun) measureBesideIdle(ctx context.Context, w workload) (without, with *runStats, err error) {
	plan, err := w.plan(ctx, sr, "beside-idle", 0)
	if err != nil {
		return nil, nil, err
	}
	mode := runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration}
	run := func(name string) (*runStats, error) {
		st := attack(ctx, w.Name+"-"+name, plan.targeter, mode, plan.expect, sr.serverPID)
		if st.OK == 0 {
			return st, fmt.Errorf("%s: no request answered as expected: %v %v", name, st.Codes, st.Unexpected)
		}
		return st, nil
	}
	if without, err = run("without-idle"); err != nil {
		return nil, nil, err
	}
	addr := strings.TrimPrefix(strings.TrimSuffix(sr.api, "/api/v1"), "http://")
	conns, err := openIdleConns(ctx, addr, idleConns)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %d idle connections: %w", idleConns, err)
	}
	defer closeAll(conns)
	with, err = run("beside-idle")
	return without, with, err
}

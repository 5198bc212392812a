package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	ekconfig "github.com/enrollkit/enrollkit/pkg/config"
)

// idleConns is how many idle keep-alive connections the server is made to
// hold while a read's peak is measured once more: what a burst of clients,
// or a proxy's pool, leaves open. Each costs the server a goroutine and
// its buffers; the throughput beside them must not fall far (targets).
// Half of the server's connection bound, which leaves room for the closed
// loop's workers and for the keep-alive connections earlier runs leave
// open (some 150 in a -quick run): at the bound the server closes idle
// connections, and the crowd run measures what happens past it. Three
// quarters (384) reached the bound in CI's -quick run.
const idleConns = ekconfig.DefaultMaxConnections / 2

// openIdleConns opens n connections to the server at addr, sends one
// request on each and leaves it open and idle. It returns them for the
// caller to close; on the first failure it stops and closes those opened.
func openIdleConns(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	next := make(chan int)
	d := net.Dialer{Timeout: 10 * time.Second}
	for range 32 {
		wg.Go(func() {
			for i := range next {
				c, err := openIdleConn(ctx, &d, addr)
				if err != nil {
					cancel(err) // the first cause is kept
					continue
				}
				conns[i] = c
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func openIdleConn(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	// A cancelled context ends the exchange below at once.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
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
	if err != nil || !stop() {
		c.Close()
		return nil, cmp.Or(err, context.Cause(ctx))
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
// without idle connections, then while the server at addr holds idleConns
// idle keep-alive connections. Run after the scale's other workloads, the
// data are not what they were at the peak run (the redemptions add
// members to the listed groups), so the first run is the comparison, not
// the peak. Both runs must answer every request as the workload expects,
// and the server must still hold the connections when the second ends.
func (sr *scaleRun) measureBesideIdle(ctx context.Context, w workload, addr string) (without, with *runStats, checks []check, err error) {
	plan, err := w.plan(ctx, sr, "beside-idle", 0)
	if err != nil {
		return nil, nil, nil, err
	}
	mode := runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration}
	run := func(phase string) *runStats {
		st := attack(ctx, w.Name+"-"+phase, plan.targeter, mode, plan.expect, sr.serverPID)
		checks = append(checks, sr.runChecks(ctx, w.Name, phase, st, plan)...)
		return st
	}
	without = run("without idle connections")
	before, _ := openFiles(sr.serverPID)
	conns, err := openIdleConns(ctx, addr, idleConns)
	if err != nil {
		return nil, nil, checks, fmt.Errorf("opening %d idle connections: %w", idleConns, err)
	}
	defer closeAll(conns)
	with = run("beside idle connections")
	// Asked of the connections themselves: the server's open files also
	// count the connections earlier runs' clients close meanwhile.
	held := stillOpen(conns)
	after, err := openFiles(sr.serverPID)
	checks = append(checks, check{Name: sr.spec.Name + "/" + w.Name + "/beside idle connections: the server held them to the end",
		Pass: held == len(conns),
		Detail: fmt.Sprintf("%d of %d still open; the server's open files %d before them, %d at the end (%v)",
			held, len(conns), before, after, err)})
	return without, with, checks, nil
}

// stillOpen counts the connections the server has not closed. The server
// sends nothing unasked on an idle connection, so a read waits until its
// deadline on an open one and ends at once on one the server closed.
func stillOpen(conns []net.Conn) int {
	n := 0
	var b [1]byte
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(b[:])
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			n++
		}
	}
	return n
}

// crowdClients is how many clients keep a request in flight at once in
// the crowd run.
const crowdClients = 2000

// measureCrowd runs the workload's closed loop with crowdClients workers,
// each on a connection of its own, for the peak run's duration. Every
// answer must be the workload's or a 503 of the in-flight bound.
func (sr *scaleRun) measureCrowd(ctx context.Context, w workload) (*runStats, []check, error) {
	plan, err := w.plan(ctx, sr, "crowd", 0)
	if err != nil {
		return nil, nil, err
	}
	expect := func(code int) bool { return plan.expect(code) || code == http.StatusServiceUnavailable }
	st := attack(ctx, w.Name+"-crowd", plan.targeter, runMode{Closed: true, Workers: crowdClients, Duration: sr.cfg.PeakDuration},
		expect, sr.serverPID)
	plan.expect = expect
	return st, sr.runChecks(ctx, w.Name, "crowd", st, plan), nil
}

// openFiles counts the open file descriptors of process pid.
func openFiles(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds), err
}

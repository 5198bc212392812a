package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// lineBuffer collects log lines and writes them in batches: every interval,
// when the batch would pass max bytes, on Flush and on Close. The access
// log writes a line per request, and a write(2) per line cost a server as
// much CPU as its JSON encoding (6% of a read request's). Lines are kept
// whole: slog hands each over in one Write.
type lineBuffer struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	max  int
	stop chan struct{}
	done chan struct{}
}

// newLineBuffer starts a lineBuffer writing to w every interval.
func newLineBuffer(w io.Writer, interval time.Duration, max int) *lineBuffer {
	b := &lineBuffer{w: w, buf: make([]byte, 0, max), max: max, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.max {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > b.max {
			return b.w.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what is buffered.
func (b *lineBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *lineBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	// A batch that cannot be written is dropped rather than kept growing.
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close stops the timer and writes what is left.
func (b *lineBuffer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}

// flushOnWarn is a handler whose warnings and errors are written at once,
// with every line before them: those are the lines an operator looks for
// when a process dies.
type flushOnWarn struct {
	slog.Handler
	buf *lineBuffer
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.buf}
}

package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogLinesAreWrittenInBatches(t *testing.T) {
	t.Parallel()
	out := &lockedBuffer{}
	// An interval longer than the test: only size, warnings and Close write.
	lines := newLineBuffer(out, time.Hour, 1<<10)
	log := slog.New(flushOnWarn{slog.NewJSONHandler(lines, nil), lines})

	log.Info("request", "n", 1)
	if got := out.String(); got != "" {
		t.Fatalf("an info line was written at once: %q", got)
	}
	log.Warn("something is off")
	if got := out.String(); strings.Count(got, "\n") != 2 || !strings.Contains(got, `"n":1`) {
		t.Fatalf("a warning did not write itself and the line before it: %q", got)
	}

	// Concurrent writers past the size limit: every line arrives whole.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				log.Info("request", "worker", w, "i", i, "pad", strings.Repeat("x", 40))
			}
		})
	}
	wg.Wait()
	if err := lines.Close(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != 2+8*50 {
		t.Fatalf("%d lines after Close, want %d", len(got), 2+8*50)
	}
	for _, l := range got {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("a line was split or merged: %q", l)
		}
	}
}

func TestLogLinesAreWrittenWithinTheInterval(t *testing.T) {
	t.Parallel()
	out := &lockedBuffer{}
	lines := newLineBuffer(out, 10*time.Millisecond, 1<<10)
	defer lines.Close()
	fmt.Fprintln(lines, `{"msg":"request"}`)
	deadline := time.Now().Add(5 * time.Second)
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written by the timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAnOversizedLogLineIsWrittenWhole(t *testing.T) {
	t.Parallel()
	out := &lockedBuffer{}
	lines := newLineBuffer(out, time.Hour, 16)
	fmt.Fprint(lines, "short\n")
	long := strings.Repeat("y", 40) + "\n"
	fmt.Fprint(lines, long)
	if got := out.String(); got != "short\n"+long {
		t.Fatalf("got %q", got)
	}
	lines.Close()
}

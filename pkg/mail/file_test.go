package mail

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestFileSenderWritesEML(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "outbox") // created by the sender
	var paths []string
	sender := NewFileSender(dir, func(path string) { paths = append(paths, path) })
	msg := mustRenderMessage(t)

	if err := sender.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	if len(paths) != 1 {
		t.Fatalf("onWrite called %d times, want 1", len(paths))
	}
	if filepath.Dir(paths[0]) != dir {
		t.Errorf("file %q is not in %q", paths[0], dir)
	}
	if name := filepath.Base(paths[0]); !regexp.MustCompile(`^[0-9]+-grace@example\.com\.eml$`).MatchString(name) {
		t.Errorf("file name = %q, want <unix-nanos>-grace@example.com.eml", name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the .eml file", len(entries))
	}
	if runtime.GOOS != "windows" {
		info, err := os.Stat(paths[0])
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("file mode = %v; a file holding a passcode must be private", perm)
		}
	}

	raw, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	email := mustParseEmail(t, raw)
	if email.Subject != msg.Subject {
		t.Errorf("Subject = %q, want %q", email.Subject, msg.Subject)
	}
	if email.To != "<grace@example.com>" {
		t.Errorf("To = %q", email.To)
	}
	if email.MessageID != "<delivery-42@enrollkit.example>" {
		t.Errorf("Message-ID = %q", email.MessageID)
	}
	if email.Text != msg.Text || email.HTML != msg.HTML {
		t.Errorf("parts differ from the message:\n%s\n%s", email.Text, email.HTML)
	}
	if !strings.Contains(email.Text, "K7QM-ZP4X") || !strings.Contains(email.HTML, "K7QM-ZP4X") {
		t.Error("a part lacks the passcode")
	}
}

func TestFileSenderNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	seen := map[string]bool{}
	sender := NewFileSender(dir, func(path string) {
		mu.Lock()
		defer mu.Unlock()
		seen[path] = true
	})

	const n = 20
	// Rendered here: t.Fatal belongs in the test's own goroutine.
	m := mustRenderMessage(t)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := sender.Send(context.Background(), m); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	sent := make(chan struct{})
	go func() {
		wg.Wait()
		close(sent)
	}()
	await(t, sent, "the concurrent sends to return")

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	if len(entries) != n || len(seen) != n {
		t.Errorf("%d files and %d distinct paths for %d messages to one address", len(entries), len(seen), n)
	}
}

func TestFileSenderKeepsFileInDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var path string
	sender := NewFileSender(dir, func(p string) { path = p })
	m := mustRenderMessage(t)
	m.To = `"../../x\\y"@example.com`

	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("file %q escaped %q", path, dir)
	}
	if name := filepath.Base(path); strings.ContainsAny(name, `/\"`) {
		t.Errorf("file name %q keeps unsafe characters", name)
	}
}

func TestFileSenderRefusesInvalidMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sender := NewFileSender(dir, func(string) { t.Error("onWrite called for an invalid message") })
	m := mustRenderMessage(t)
	m.To = "not an address"

	if err := sender.Send(context.Background(), m); !IsPermanent(err) {
		t.Errorf("Send = %v, want a permanent error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sender.Send(ctx, mustRenderMessage(t)); err == nil {
		t.Error("Send with a cancelled context succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("directory holds %d entries, want none", len(entries))
	}
}

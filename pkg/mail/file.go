package mail

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxFileNameAddress keeps file names well under the 255-byte limit of
// common file systems whatever address a message goes to.
const maxFileNameAddress = 100

var _ Sender = (*FileSender)(nil)

// FileSender writes each message as an .eml file (RFC 5322, the same MIME
// structure SMTPSender sends) instead of delivering it, so development and
// demos need no mail server and any mail client can open the result. It is
// safe for concurrent use.
type FileSender struct {
	dir     string
	onWrite func(path string)

	mu       sync.Mutex
	lastNano int64
}

// NewFileSender returns a FileSender writing into dir, created on first use,
// with names of the form <unix-nanos>-<recipient>.eml so a directory listing
// is in sending order. onWrite is told each file's path; when nil, the path
// is logged through log/slog so a developer can find the email.
func NewFileSender(dir string, onWrite func(path string)) *FileSender {
	return &FileSender{dir: dir, onWrite: onWrite}
}

// Send writes m to a new file. The file appears complete or not at all (it is
// written under a temporary name, then renamed), so a watcher never opens
// half a message. Files are readable by the owner only, as they hold
// passcodes.
func (s *FileSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	msg, err := buildMsg(m, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("mail: creating mail directory: %w", err)
	}

	tmp, err := os.CreateTemp(s.dir, ".sending-*.tmp")
	if err != nil {
		return fmt.Errorf("mail: creating mail file: %w", err)
	}
	_, writeErr := msg.WriteTo(tmp)
	closeErr := tmp.Close()
	if writeErr != nil || closeErr != nil {
		_ = os.Remove(tmp.Name())
		if writeErr == nil {
			writeErr = closeErr
		}
		return fmt.Errorf("mail: writing mail file: %w", writeErr)
	}

	name := strconv.FormatInt(s.uniqueNano(now), 10) + "-" + fileNameAddress(msg.GetTo()[0].Address) + ".eml"
	path := filepath.Join(s.dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("mail: naming mail file: %w", err)
	}

	if s.onWrite != nil {
		s.onWrite(path)
	} else {
		slog.InfoContext(ctx, "mail: message written to file", "path", path)
	}
	return nil
}

// uniqueNano returns now in Unix nanoseconds, moved forward past the last
// value it returned: two messages to the same address within one clock tick
// must not share a name, or the rename would overwrite the first.
func (s *FileSender) uniqueNano(now time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := now.UnixNano()
	if n <= s.lastNano {
		n = s.lastNano + 1
	}
	s.lastNano = n
	return n
}

// fileNameAddress keeps the characters of an address that are safe in a file
// name on every common system; anything else, a path separator above all,
// becomes "_".
func fileNameAddress(addr string) string {
	var b strings.Builder
	for _, r := range addr {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '@', r == '.', r == '_', r == '+', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= maxFileNameAddress {
			break
		}
	}
	return b.String()
}

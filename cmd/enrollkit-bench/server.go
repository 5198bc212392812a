package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// throttleOff is the value given to every ENROLLKIT_*_LIMIT: the benchmark
// signs in and redeems thousands of times from one IP and one account,
// which the throttles exist to stop. They are meant for failed attempts,
// but each attempt holds a reservation until it succeeds, so at the default
// limits a burst of concurrent attempts could be answered 429 and the
// figures would measure the throttle instead of the server.
const throttleOff = "1000000000"

// buildServer compiles ./cmd/enrollkit of the module the benchmark runs in,
// so that the real binary, with its real configuration and middleware, is
// what gets measured.
func buildServer(ctx context.Context, dir string, log *logger) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the enrollkit module (go run ./cmd/enrollkit-bench)")
	}
	bin := filepath.Join(dir, "enrollkit")
	log.Printf("building ./cmd/enrollkit")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/enrollkit")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return bin, nil
}

// throttleLimits are the throttles' settings that throttleOff is given.
var throttleLimits = []string{"ENROLLKIT_LOGIN_IP_LIMIT", "ENROLLKIT_LOGIN_ACCOUNT_LIMIT", "ENROLLKIT_REDEEM_IP_LIMIT"}

// serverEnv is the environment of the server and of its subcommands:
// production mode against databaseURL, with the throttles out of the way
// unless defaultThrottles, then extra (-server-env), which wins.
func serverEnv(databaseURL, secret, dataDir string, defaultThrottles bool, extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ENROLLKIT_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"ENROLLKIT_ENV=production",
		"ENROLLKIT_PUBLIC_URL=http://localhost:3000",
		"ENROLLKIT_ADDR=127.0.0.1:0",
		"ENROLLKIT_METRICS_ADDR=127.0.0.1:0",
		"ENROLLKIT_DATABASE_URL="+databaseURL,
		"ENROLLKIT_SECRET="+secret,
		"ENROLLKIT_DATA_DIR="+dataDir,
		// Long enough that the access token of one scale never expires
		// mid-run.
		"ENROLLKIT_ACCESS_TTL=2h",
	)
	if !defaultThrottles {
		for _, k := range throttleLimits {
			env = append(env, k+"="+throttleOff)
		}
	}
	return append(env, extra...)
}

// throttleSettings describes the throttles of a server run with
// serverEnv(…, true, extra): the server's defaults, or which of them
// extra overrides.
func throttleSettings(extra []string) string {
	var set []string
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(throttleLimits, k) || strings.HasSuffix(k, "_IP_LIMIT") || strings.Contains(k, "THROTTLE") ||
			k == "ENROLLKIT_REDIS_URL" {
			set = append(set, kv)
		}
	}
	if len(set) == 0 {
		return "the server's defaults"
	}
	return "the server's defaults but -server-env " + strings.Join(set, " ")
}

// orgSetup is what `enrollkit org create` prints.
type orgSetup struct {
	OrganizationID      string `json:"organization_id"`
	OrganizationGroupID string `json:"organization_group_id"`
	ManagerID           string `json:"manager_id"`
}

// createOrganization runs `enrollkit org create`, which also migrates the
// fresh database.
func createOrganization(ctx context.Context, bin string, env []string, name, email, password string) (*orgSetup, error) {
	cmd := exec.CommandContext(ctx, bin, "org", "create", "--name", name, "--manager-email", email, "--manager-password", password)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("enrollkit org create: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	// The command may log before printing its answer; the answer is the
	// last line.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var s orgSetup
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil || s.OrganizationID == "" {
		return nil, fmt.Errorf("enrollkit org create printed %q", out)
	}
	return &s, nil
}

// server is a running enrollkit process.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	log  *os.File
}

// startServer starts `bin args...` (`enrollkit serve`, or the stack floor)
// and waits for its {"msg":"enrollkit listening","addr":...} line.
// Everything the process writes goes to logPath.
func startServer(ctx context.Context, bin string, args []string, env []string, logPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan error, 1), log: logf}
	ready := make(chan string, 1)
	go func() {
		// Keep draining stdout (the access log) for the life of the
		// process, or it would block on a full pipe. Lines are read one
		// by one only until the server says where it listens; the rest is
		// copied in chunks, not written a line (a request) at a time by
		// the process that also runs the load generator.
		br := bufio.NewReaderSize(stdout, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			_, _ = logf.Write(line)
			if err != nil {
				break
			}
			var m struct{ Msg, Addr string }
			if json.Unmarshal(line, &m) == nil && m.Msg == "enrollkit listening" && m.Addr != "" {
				ready <- m.Addr
				break
			}
		}
		_, _ = io.Copy(logf, br)
		s.done <- cmd.Wait()
	}()
	select {
	case s.addr = <-ready:
		return s, nil
	case err := <-s.done:
		logf.Close()
		return nil, fmt.Errorf("%s exited before listening (%v); see %s", args[0], err, logPath)
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not report listening within 60s; see %s", args[0], logPath)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (s *server) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// resetPeakRSS sets the process's VmHWM back to its current RSS (writing 5
// to /proc/<pid>/clear_refs), so that the next peakRSS is the peak of what
// ran in between. It reports whether the kernel allowed it.
func (s *server) resetPeakRSS() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0) == nil
}

// stop asks the server to shut down gracefully and kills it if it has not
// within 30 seconds.
func (s *server) stop() error {
	defer s.log.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("enrollkit serve did not stop within 30s; killed")
	}
}

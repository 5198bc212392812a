package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enrollkit/enrollkit/pkg/auth"
)

// The pgbench scripts: the SQL each endpoint issues. See pgbench/README.md.
//
//go:embed pgbench/*.sql
var pgbenchScripts embed.FS

// checkScripts makes sure the embedded scripts agree with the workloads
// where they must: the search terms, in the same order.
func checkScripts() error {
	b, err := pgbenchScripts.ReadFile("pgbench/search_courses.sql")
	if err != nil {
		return err
	}
	quoted := make([]string, len(searchTerms))
	for i, t := range searchTerms {
		quoted[i] = "'" + t + "'"
	}
	if want := "ARRAY[" + strings.Join(quoted, ",") + "]"; !strings.Contains(string(b), want) {
		return fmt.Errorf("pgbench/search_courses.sql must search %s, as the search workload does", want)
	}
	if !strings.Contains(string(b), fmt.Sprintf("random(1, %d)", len(searchTerms))) {
		return fmt.Errorf("pgbench/search_courses.sql must pick one of the %d terms", len(searchTerms))
	}
	return nil
}

// hashRate is the password-hash reference: how many argon2id hashes per
// second this machine makes with the server's parameters on all cores.
type hashRate struct {
	PerSecond float64 `json:"per_second"`
	Hashes    int64   `json:"hashes"`
	Seconds   float64 `json:"seconds"`
	Cores     int     `json:"cores"`
	Params    string  `json:"params"`
	// CPU is where the CPU went meanwhile (Generator is the hashing).
	CPU *cpuUse `json:"cpu"`
}

// measureHashRate hashes with auth.NewHasher(auth.HasherOptions{}), the
// server's configuration, from one goroutine per core for d. The hasher's
// own semaphore allows one hash per core at a time, as in the server.
func measureHashRate(ctx context.Context, d time.Duration) (*hashRate, error) {
	h := auth.NewHasher(auth.HasherOptions{})
	sample, err := h.Hash(ctx, "warm-up password")
	if err != nil {
		return nil, err
	}
	params := strings.Join(strings.Split(sample, "$")[1:4], "$") // argon2id$v=19$m=19456,t=2,p=1
	var n atomic.Int64
	var wg sync.WaitGroup
	cpu0 := sampleCPU(0)
	start := time.Now()
	deadline := start.Add(d)
	for range runtime.NumCPU() {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := h.Hash(ctx, "correct horse battery staple"); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := sampleCPU(0).since(cpu0, -1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &hashRate{PerSecond: float64(n.Load()) / secs, Hashes: n.Load(), Seconds: secs,
		Cores: runtime.NumCPU(), Params: params, CPU: cpu}, nil
}

// findPgbench returns the pgbench to use: the flag's, the one on PATH, or
// the newest under /usr/lib/postgresql; "" when there is none.
func findPgbench(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	sort.Strings(matches)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

// pgbenchResult is one pgbench reference run.
type pgbenchResult struct {
	Script       string            `json:"script"`
	Vars         map[string]string `json:"vars,omitempty"`
	Clients      int               `json:"clients"`
	Seconds      int               `json:"seconds"`
	TPS          float64           `json:"tps"`
	LatencyMs    float64           `json:"latency_avg_ms"`
	Transactions int64             `json:"transactions"`
	Failed       int64             `json:"failed"`
	Command      string            `json:"command"`
	// CPU is where the run's CPU time went (Generator is pgbench's own).
	CPU          *cpuUse `json:"cpu"`
	PgCPUMsPerTx float64 `json:"postgres_cpu_ms_per_transaction"`
}

var (
	reTPS     = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	reLatency = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	reTx      = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	reFailed  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// runPgbench runs one embedded script against dbURL:
// pgbench -M prepared -n -T secs -c clients -j min(clients, cores) -f script -D k=v ….
// serverPID, the idle enrollkit server, is sampled so that the CPU
// accounting matches the API runs'.
//
// With rate > 0 pgbench paces its transactions at rate per second (-R)
// instead of running them back to back, for secs seconds instead of
// -pgbench-time when secs > 0.
func runPgbench(ctx context.Context, cfg *config, dbURL, script string, vars map[string]string, dir string, serverPID int,
	rate float64, secs int) (*pgbenchResult, error) {
	body, err := pgbenchScripts.ReadFile("pgbench/" + script)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, script)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return nil, err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, err
	}
	if secs <= 0 {
		secs = int(cfg.PgbenchDuration.Round(time.Second) / time.Second)
	}
	clients := cfg.Concurrency
	args := []string{"-h", u.Hostname(), "-p", u.Port(), "-U", u.User.Username(),
		"-M", "prepared", "-n", "-T", strconv.Itoa(secs), "-c", strconv.Itoa(clients),
		"-j", strconv.Itoa(min(clients, runtime.NumCPU())), "-f", path}
	if rate > 0 {
		args = append(args, "-R", strconv.FormatFloat(rate, 'f', 1, 64))
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-D", k+"="+vars[k])
	}
	args = append(args, strings.TrimPrefix(u.Path, "/"))
	cmd := exec.CommandContext(ctx, cfg.Pgbench, args...)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable")
	cpu0 := sampleCPU(serverPID)
	out, err := cmd.CombinedOutput()
	generator := 0.0
	if cmd.ProcessState != nil {
		generator = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	cpu := sampleCPU(serverPID).since(cpu0, generator)
	res := &pgbenchResult{CPU: cpu, Script: script, Vars: vars, Clients: clients, Seconds: secs,
		Command: "pgbench " + strings.Join(args, " ")}
	if err != nil {
		return res, fmt.Errorf("pgbench %s: %w\n%s", script, err, tail(string(out), 1500))
	}
	m := reTPS.FindStringSubmatch(string(out))
	if m == nil {
		return res, fmt.Errorf("pgbench %s: no tps in its output:\n%s", script, tail(string(out), 1500))
	}
	res.TPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reLatency.FindStringSubmatch(string(out)); m != nil {
		res.LatencyMs, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reTx.FindStringSubmatch(string(out)); m != nil {
		res.Transactions, _ = strconv.ParseInt(m[1], 10, 64)
	}
	res.PgCPUMsPerTx = perOp(cpu.Postgres, int(res.Transactions))
	if m := reFailed.FindStringSubmatch(string(out)); m != nil {
		res.Failed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if res.Failed > 0 {
		return res, errors.New("pgbench " + script + ": " + strconv.FormatInt(res.Failed, 10) + " transactions failed")
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Command enrollkit-bench measures enrollkit against the limits of the
// machine it runs on.
//
// In one run it builds the real server binary, creates a fresh PostgreSQL
// database per scale (about ten thousand and about one million rows), seeds
// one organization with set-based SQL, starts the server against it and
// drives it with vegeta: a closed-loop run (N workers as fast as they can)
// for peak throughput, then a fixed-rate run at half of that peak for
// latency. Next to every API figure it measures a reference on the same
// machine in the same run: pgbench running the SQL the endpoint issues, at
// the same concurrency, and the raw argon2id hash rate for the endpoints
// that hash a password. The result is a table of ratios and growth factors,
// printed and written as JSON.
//
//	go run ./cmd/enrollkit-bench            # full run, both scales
//	go run ./cmd/enrollkit-bench -quick     # CI: small scale, short runs, correctness only
//
// It talks to 127.0.0.1 only. See docs/benchmarks.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// config is what the flags decide.
type config struct {
	Quick  bool `json:"quick"`
	Keep   bool `json:"keep"`
	Strict bool `json:"strict"`
	// Out is the JSON results file.
	Out string `json:"-"`
	// AdminURL is a PostgreSQL URL used to create and drop the benchmark
	// databases; they live on the same server.
	AdminURL string `json:"-"`
	// Concurrency is the number of closed-loop workers and of pgbench
	// clients.
	Concurrency int `json:"concurrency"`
	// PeakDuration is how long a closed-loop run lasts; RateDuration how
	// long a fixed-rate run lasts; PgbenchDuration how long one pgbench
	// reference runs; HashDuration how long the hash rate is measured.
	PeakDuration    time.Duration `json:"peak_duration_ns"`
	RateDuration    time.Duration `json:"rate_duration_ns"`
	PgbenchDuration time.Duration `json:"pgbench_duration_ns"`
	HashDuration    time.Duration `json:"hash_duration_ns"`
	Scales          []string      `json:"scales"`
	// Workloads names the workloads to run; empty runs them all.
	Workloads []string `json:"workloads,omitempty"`
	// ServerEnv is added to the server's environment (-server-env).
	ServerEnv []string `json:"server_env,omitempty"`
	// Pgbench is the pgbench executable; empty when none was found.
	Pgbench string `json:"pgbench"`
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("enrollkit-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.BoolVar(&c.Quick, "quick", false, "CI mode: small scale only, very short runs; checks the harness and the correctness figures, makes no timing claims")
	fs.BoolVar(&c.Keep, "keep", false, "keep the benchmark databases instead of dropping them")
	fs.BoolVar(&c.Strict, "strict", false, "exit non-zero when a performance target is missed (correctness failures always do)")
	fs.StringVar(&c.Out, "out", "bench-results/results.json", "where to write the JSON results")
	fs.StringVar(&c.AdminURL, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL URL of an existing database on the server where the benchmark databases are created")
	fs.IntVar(&c.Concurrency, "c", 8, "closed-loop workers, and pgbench clients")
	peak := fs.Duration("peak", 10*time.Second, "duration of each closed-loop (peak throughput) run")
	rate := fs.Duration("rate", 10*time.Second, "duration of each fixed-rate (latency) run")
	pgb := fs.Duration("pgbench-time", 10*time.Second, "duration of each pgbench reference (whole seconds)")
	hash := fs.Duration("hash-time", 5*time.Second, "duration of the password-hash rate measurement")
	scaleList := fs.String("scales", "small,large", "comma-separated scales to run: small (~10k rows), large (~1M rows)")
	only := fs.String("workloads", "", "comma-separated workloads to run (default: all): "+workloadNames())
	fs.Func("server-env", "`KEY=VALUE` added to the environment of the server, its subcommands and the stack floor, after the benchmark's own settings, not to the load generator's (repeatable; for A/B runs, e.g. GOGC=50)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return errors.New("want KEY=VALUE")
		}
		c.ServerEnv = append(c.ServerEnv, v)
		return nil
	})
	pgbench := fs.String("pgbench", "", "pgbench executable (default: found on PATH or in /usr/lib/postgresql/*/bin)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.PeakDuration, c.RateDuration, c.PgbenchDuration, c.HashDuration = *peak, *rate, *pgb, *hash
	c.Scales = strings.Split(*scaleList, ",")
	if c.Quick {
		// Short enough that the whole run stays under a minute on two
		// cores, long enough that every workload sends real traffic.
		c.Scales = []string{"small"}
		c.PeakDuration, c.RateDuration, c.PgbenchDuration, c.HashDuration = time.Second, time.Second, time.Second, time.Second
	}
	if *only != "" {
		c.Workloads = strings.Split(*only, ",")
		for _, w := range c.Workloads {
			if !slices.ContainsFunc(workloads, func(x workload) bool { return x.Name == w }) {
				return nil, fmt.Errorf("-workloads: unknown workload %q (%s)", w, workloadNames())
			}
		}
	}
	for _, s := range c.Scales {
		if _, ok := scales[s]; !ok {
			return nil, fmt.Errorf("-scales: unknown scale %q (small, large)", s)
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		return nil, errors.New("-c: must be from 1 to 256")
	}
	if c.PgbenchDuration < time.Second {
		c.PgbenchDuration = time.Second
	}
	u, err := url.Parse(c.AdminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("-pg: must be a postgres:// URL")
	}
	// The benchmark creates and drops databases and floods the server: it
	// must never be pointed at anything but the local machine.
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" {
		return nil, errors.New("-pg: only a PostgreSQL on 127.0.0.1 is allowed")
	}
	c.Pgbench = findPgbench(*pgbench)
	return c, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor-serve" {
		if err := serveFloor(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "enrollkit-bench floor-serve:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "enrollkit-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, cfg, os.Stdout, newLogger(os.Stderr))
	stop()
	os.Exit(code)
}

// logger prints progress lines with the time elapsed since the start.
type logger struct {
	w     io.Writer
	start time.Time
}

func newLogger(w io.Writer) *logger { return &logger{w: w, start: time.Now()} }

func (l *logger) Printf(format string, args ...any) {
	fmt.Fprintf(l.w, "[%6.1fs] %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

// run does the whole benchmark and returns the exit status: 1 when a
// correctness check failed (or, with -strict, a target was missed), 0
// otherwise.
func run(ctx context.Context, cfg *config, stdout io.Writer, log *logger) int {
	res := &results{StartedAt: time.Now().UTC(), Config: cfg, Machine: machineInfo()}
	if err := checkScripts(); err != nil {
		log.Printf("%v", err)
		return 1
	}
	if cfg.Pgbench == "" {
		if !cfg.Quick {
			log.Printf("pgbench not found (install postgresql-contrib or pass -pgbench): the full run needs it")
			return 1
		}
		log.Printf("pgbench not found: skipping the pgbench references (quick mode)")
	}
	runID := randomHex(4)
	version, err := postgresVersion(ctx, cfg.AdminURL)
	if err != nil {
		log.Printf("PostgreSQL: %v", err)
		return 1
	}
	res.Machine.PostgreSQL = version
	// Every figure is a share of this machine's two (or so) cores: another
	// busy process skews them all. Say so up front, and per run below.
	res.Machine.BusyBefore = idleCheck(time.Second)
	if res.Machine.BusyBefore > disturbedShare {
		log.Printf("WARNING: the machine is %.0f%% busy before the benchmark starts; the figures will be skewed",
			100*res.Machine.BusyBefore)
	}

	log.Printf("measuring the argon2id hash rate on %d cores for %s", runtime.NumCPU(), cfg.HashDuration)
	hr, err := measureHashRate(ctx, cfg.HashDuration)
	if err != nil {
		log.Printf("hash rate: %v", err)
		return 1
	}
	res.HashRate = hr
	log.Printf("hash rate: %.1f hashes/s (%s)", hr.PerSecond, hr.Params)

	work, err := os.MkdirTemp("", "enrollkit-bench-*")
	if err != nil {
		log.Printf("%v", err)
		return 1
	}
	defer os.RemoveAll(work)
	bin, err := buildServer(ctx, work, log)
	if err != nil {
		log.Printf("build the server: %v", err)
		return 1
	}

	for _, name := range cfg.Scales {
		if ctx.Err() != nil {
			break
		}
		sr, err := runScale(ctx, cfg, scales[name], bin, work, runID, res.HashRate, log)
		if sr != nil {
			res.Scales = append(res.Scales, sr)
		}
		if err != nil {
			log.Printf("scale %s: %v", name, err)
			res.Checks = append(res.Checks, check{Name: "scale " + name + " completed", Pass: false, Detail: err.Error()})
		}
	}
	if ctx.Err() != nil {
		res.Checks = append(res.Checks, check{Name: "run completed", Pass: false, Detail: "interrupted"})
	}
	res.finish()
	res.print(stdout)
	if err := res.write(cfg.Out); err != nil {
		log.Printf("write %s: %v", cfg.Out, err)
		return 1
	}
	log.Printf("results written to %s", cfg.Out)
	switch {
	case !res.CorrectnessPass:
		log.Printf("FAIL: a correctness check failed")
		return 1
	case cfg.Strict && !res.TargetsPass:
		log.Printf("FAIL (-strict): a performance target was missed")
		return 1
	}
	return 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// managerEmail and managerPassword are the measured organization's Full
// Manager, created with `enrollkit org create`.
const (
	managerEmail    = "manager@bench.example"
	managerPassword = "Bench-manager-password-2026"
)

// runScale measures one scale: a fresh database, `enrollkit org create`,
// seeding, the server, every workload and its references, the server's
// peak RSS. The database is dropped at the end unless -keep.
func runScale(ctx context.Context, cfg *config, spec scale, bin, work, runID string, hash *hashRate, log *logger) (*scaleResult, error) {
	log.Printf("scale %s", spec.Name)
	sr := &scaleResult{Name: spec.Name, Database: "enrollkit_bench_" + runID + "_" + spec.Name}
	drop, err := createDatabase(ctx, cfg, sr.Database, log)
	if err != nil {
		return nil, err
	}
	defer drop()
	run, err := prepareScale(ctx, cfg, spec, sr, bin, work, runID, log)
	if run != nil && run.db != nil {
		defer run.db.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		return sr, err
	}
	srv, err := run.startServer(ctx)
	if err != nil {
		return sr, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.stop()
		}
	}()
	if err := run.login(ctx); err != nil {
		return sr, err
	}
	if err := run.measureWorkloads(ctx, sr, srv, hash); err != nil {
		return sr, err
	}
	// Last, so that neither the other figures nor the peak RSS above
	// include them: the idle connections.
	if err := run.measureIdleConnections(ctx, sr, srv); err != nil {
		return sr, err
	}
	stopped = true
	if err := srv.stop(); err != nil {
		sr.Checks = append(sr.Checks, check{Name: spec.Name + ": server stops cleanly", Detail: err.Error()})
	}
	run.measureOwnServers(ctx, sr, hash)
	return sr, nil
}

// createDatabase creates the scale's database and returns what drops it
// (unless -keep) and closes the administrative connection.
func createDatabase(ctx context.Context, cfg *config, name string, log *logger) (drop func(), err error) {
	admin, err := pgx.Connect(ctx, cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(cfg.AdminURL), err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("create database: %w", err)
	}
	return func() {
		defer admin.Close(context.WithoutCancel(ctx))
		if cfg.Keep {
			log.Printf("kept database %s (-keep)", name)
			return
		}
		if _, err := admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			log.Printf("drop database %s: %v", name, err)
		}
	}, nil
}

// prepareScale creates the measured organization in the scale's database
// and seeds it. The scaleRun it returns has no server yet; its db, when
// set, is the caller's to close, even with an error.
func prepareScale(ctx context.Context, cfg *config, spec scale, sr *scaleResult, bin, work, runID string, log *logger) (*scaleRun, error) {
	dbURL, err := databaseURL(cfg.AdminURL, sr.Database)
	if err != nil {
		return nil, err
	}
	secret := randomHex(24) // 48 bytes
	dataDir := filepath.Join(work, spec.Name+"-data")
	env := serverEnv(dbURL, secret, dataDir, false, cfg.ServerEnv)
	setup, err := createOrganization(ctx, bin, env, "Bench Organization", managerEmail, managerPassword)
	if err != nil {
		return nil, err
	}
	run := &scaleRun{cfg: cfg, spec: spec, log: log, runID: runID, t: newTenant(setup, secret, managerEmail, managerPassword),
		dbURL: dbURL, dir: work, client: &http.Client{Timeout: 60 * time.Second}, env: env,
		bin: bin, defaultThrottleEnv: serverEnv(dbURL, secret, dataDir, true, cfg.ServerEnv),
		throttles: throttleSettings(cfg.ServerEnv), logDir: filepath.Dir(cfg.Out)}
	if run.db, err = pgx.Connect(ctx, dbURL); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := seed(ctx, run.db, run.t, spec, log); err != nil {
		return run, err
	}
	sr.SeedSeconds = time.Since(t0).Seconds()
	sr.Rows, sr.TotalRows = run.t.Rows, run.t.TotalRows
	return run, nil
}

// startServer starts the scale's server, logging next to the results.
func (sr *scaleRun) startServer(ctx context.Context) (*server, error) {
	if err := os.MkdirAll(sr.logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(sr.logDir, "server-"+sr.spec.Name+".log")
	srv, err := startServer(ctx, sr.bin, []string{"serve"}, sr.env, logPath)
	if err != nil {
		return nil, err
	}
	sr.log.Printf("  server listening on %s (log: %s)", srv.addr, logPath)
	sr.api, sr.serverPID = "http://"+srv.addr+"/api/v1", srv.cmd.Process.Pid
	return srv, nil
}

// selected reports whether -workloads selects w.
func (c *config) selected(w workload) bool {
	return len(c.Workloads) == 0 || slices.Contains(c.Workloads, w.Name)
}

// measureWorkloads measures every selected workload that runs against the
// scale's server. The server's peak RSS is sampled after every workload,
// and reset before the next where the kernel allows it, so that the figure
// of each workload is its own peak; the scale's is the highest.
func (sr *scaleRun) measureWorkloads(ctx context.Context, res *scaleResult, srv *server, hash *hashRate) error {
	var err error
	if res.IdleRSSBytes, err = srv.peakRSS(); err != nil {
		return fmt.Errorf("peak RSS: %w", err)
	}
	res.PeakRSSBytes = res.IdleRSSBytes
	for _, w := range workloads {
		if ctx.Err() != nil {
			break
		}
		if !sr.cfg.selected(w) || w.own != nil {
			continue
		}
		srv.resetPeakRSS()
		wr := sr.measure(ctx, w, hash)
		if wr.PeakRSSBytes, err = srv.peakRSS(); err != nil {
			return fmt.Errorf("peak RSS: %w", err)
		}
		res.PeakRSSBytes = max(res.PeakRSSBytes, wr.PeakRSSBytes)
		res.Workloads = append(res.Workloads, wr)
	}
	sr.log.Printf("  server peak RSS (VmHWM) %.1f MB", float64(res.PeakRSSBytes)/(1<<20))
	return nil
}

// measureIdleConnections repeats the closed loop of the workloads measured
// beside idle connections, without them and then beside them, and reads
// the server's peak RSS over the two; then, for those measured in a crowd,
// the closed loop of crowdClients clients at once, and its peak RSS.
func (sr *scaleRun) measureIdleConnections(ctx context.Context, res *scaleResult, srv *server) error {
	for _, w := range workloads {
		wr := res.workload(w.Name)
		if !(w.besideIdle || w.crowd) || wr == nil || wr.Peak == nil || ctx.Err() != nil {
			continue
		}
		if w.besideIdle {
			if err := sr.measureIdle(ctx, w, wr, srv); err != nil {
				return err
			}
		}
		if w.crowd {
			if err := sr.measureCrowdRSS(ctx, w, wr, srv); err != nil {
				return err
			}
		}
	}
	return nil
}

func (sr *scaleRun) measureIdle(ctx context.Context, w workload, wr *workloadResult, srv *server) error {
	sr.log.Printf("  %s: closed loop without, then beside %d idle keep-alive connections", w.Name, idleConns)
	srv.resetPeakRSS()
	without, with, checks, err := sr.measureBesideIdle(ctx, w, srv.addr)
	wr.Checks = append(wr.Checks, checks...)
	if err != nil {
		wr.Checks = append(wr.Checks, check{Name: sr.spec.Name + "/" + w.Name + "/beside idle connections", Detail: err.Error()})
		return nil
	}
	wr.WithoutIdle, wr.BesideIdle = without, with
	if wr.BesideIdlePeakRSSBytes, err = srv.peakRSS(); err != nil {
		return fmt.Errorf("peak RSS: %w", err)
	}
	sr.log.Printf("    %.1f req/s beside them, %.1f without; CPU ms/request: server %.2f (%.2f without); peak RSS %.1f MB",
		with.Throughput, without.Throughput, with.ServerCPUMsPerReq, without.ServerCPUMsPerReq, float64(wr.BesideIdlePeakRSSBytes)/(1<<20))
	return nil
}

func (sr *scaleRun) measureCrowdRSS(ctx context.Context, w workload, wr *workloadResult, srv *server) error {
	sr.log.Printf("  %s: closed loop of %d clients at once", w.Name, crowdClients)
	srv.resetPeakRSS()
	crowd, checks, err := sr.measureCrowd(ctx, w)
	wr.Checks = append(wr.Checks, checks...)
	if err != nil {
		wr.Checks = append(wr.Checks, check{Name: sr.spec.Name + "/" + w.Name + "/crowd", Detail: err.Error()})
		return nil
	}
	wr.Crowd = crowd
	if wr.CrowdPeakRSSBytes, err = srv.peakRSS(); err != nil {
		return fmt.Errorf("peak RSS: %w", err)
	}
	sr.log.Printf("    %.1f req/s, p99 %.0f ms, answers %v; peak RSS %.1f MB", crowd.Throughput, crowd.P99Ms, crowd.Codes,
		float64(wr.CrowdPeakRSSBytes)/(1<<20))
	return nil
}

// measureOwnServers runs the workloads with a server of their own, with
// the scale's stopped, so that theirs has the cores to itself. Its peak
// RSS is reported with the workload, not as the scale's: a burst holds a
// connection for every employee waiting, as the idle connections do.
func (sr *scaleRun) measureOwnServers(ctx context.Context, res *scaleResult, hash *hashRate) {
	for _, w := range workloads {
		if w.own == nil || !sr.cfg.selected(w) || ctx.Err() != nil {
			continue
		}
		if w.scale != "" && w.scale != sr.spec.Name {
			sr.log.Printf("  %s: runs at the %s scale only", w.Name, w.scale)
			continue
		}
		res.Workloads = append(res.Workloads, w.own(ctx, sr, w, hash))
	}
}

// databaseURL is adminURL pointed at database name.
func databaseURL(adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact hides a password in a database URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the database"
}

// postgresVersion checks that the server answers and returns its version.
func postgresVersion(ctx context.Context, adminURL string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(adminURL), err)
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, "SELECT 'PostgreSQL ' || current_setting('server_version')").Scan(&v)
	return v, err
}

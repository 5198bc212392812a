package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/docs"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/config"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// loadConfig reads the configuration, reporting any problem as a usage error
// of one line.
func loadConfig(getenv func(string) string) (*config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, usageError{"configuration: " + err.Error()}
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// app is one wired enrollkit: the place where concrete types meet.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *store.DB
	store   *store.Store
	queue   *store.Queue
	server  *api.Server
	conns   *api.ConnLimit
	closers []func() error
}

func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// openStore opens and migrates the database and builds the services.
func openStore(ctx context.Context, cfg *config.Config, hasher *auth.Hasher) (*store.DB, *store.Store, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DatabaseMaxConns})
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	tokens, err := auth.NewTokenIssuer(auth.TokenOptions{Secret: cfg.Secret, AccessTTL: cfg.AccessTTL})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	st := store.New(db, store.Deps{Hasher: hasher, Tokens: tokens, RefreshTTL: cfg.RefreshTTL,
		VerificationTTL: cfg.VerificationTTL, Secret: cfg.Secret, PublicURL: cfg.PublicURL,
		MailQuota: lms.MailQuota{PerHour: cfg.MailOrgHourly, PerDay: cfg.MailOrgDaily, Rate: float64(cfg.MailOrgRate)},
		// Development lets webhooks reach a receiver on this machine.
		WebhookGuard: &webhook.Guard{AllowLoopback: !cfg.Production()}})
	return db, st, nil
}

func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	wait := passwordWaitHistogram()
	hasher := auth.NewHasher(auth.HasherOptions{MaxWait: cfg.PasswordWait,
		ObserveWait: func(d time.Duration) { wait.Observe(d.Seconds()) }})
	db, st, err := openStore(ctx, cfg, hasher)
	if err != nil {
		return nil, err
	}
	a.db, a.store = db, st
	a.closers = append(a.closers, db.Close)

	sender, err := newSender(cfg, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	if a.queue, err = st.NewQueue(store.QueueOptions{Work: true, Sender: sender, From: cfg.MailFrom, Logger: log}); err != nil {
		a.Close()
		return nil, err
	}

	var throttle ratelimit.Throttle = ratelimit.NewMemory()
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			a.Close()
			return nil, usageError{"configuration: ENROLLKIT_REDIS_URL: " + err.Error()}
		}
		rc := redis.NewClient(opt)
		a.closers = append(a.closers, rc.Close)
		if err := rc.Ping(ctx).Err(); err != nil {
			a.Close()
			return nil, fmt.Errorf("redis: %w", err)
		}
		throttle = ratelimit.NewRedis(rc)
	}
	a.conns = api.NewConnLimit(cfg.MaxConnections)
	a.server, err = api.New(api.Options{
		Services: api.Services{Organizations: st.Organizations, OrganizationGroups: st.Organizations, Users: st.Organizations,
			IntegrationClients: st.Auth, Auth: st.Auth, Courses: st.Catalog, Enrollments: st.Catalog, UserGroups: st.UserGroups,
			Invitations: st.Invitations, Deliveries: st.Deliveries, Redemptions: st.Redemptions, Idempotency: st.Idempotency,
			Audit: st.Audit, Webhooks: st.Webhooks},
		Logger: log,
		Ready: func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return err
			}
			return db.CheckMigrations(ctx)
		},
		Throttle:       throttle,
		RequestTimeout: cfg.RequestTimeout,
		MaxInFlight:    cfg.MaxInFlight,
		Conns:          a.conns,
		EnrollPage:     cfg.EnrollPage,
		SecureCookies:  strings.HasPrefix(cfg.PublicURL, "https://"),
		Rules: api.ThrottleRules{
			LoginIP:      ratelimit.Rule{Name: "login-ip", Limit: cfg.LoginIPLimit, Period: cfg.ThrottleWindow},
			LoginAccount: ratelimit.Rule{Name: "login-account", Limit: cfg.LoginAccountLimit, Period: cfg.ThrottleWindow},
			LoginAccountAny: ratelimit.Rule{Name: "login-account-any", Limit: cfg.LoginAccountAnyLimit,
				Period: cfg.ThrottleWindow},
			RedeemIP:   ratelimit.Rule{Name: "redeem-ip", Limit: cfg.RedeemIPLimit, Period: cfg.ThrottleWindow},
			RedeemSite: ratelimit.Rule{Name: "redeem-site", Limit: cfg.RedeemSiteLimit, Period: cfg.ThrottleWindow},
		},
		OpenAPI:        docs.OpenAPI,
		BodyLimit:      cfg.BodyLimit,
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
		DB:             db.SQL(),
		Collectors:     append(hasherMetrics(hasher), wait),
	})
	if err != nil {
		a.Close()
		// Only a proxy that does not parse is the setting's fault (config
		// checks them as well); anything else is not the configuration's.
		var pe *net.ParseError
		if errors.As(err, &pe) {
			return nil, usageError{"configuration: ENROLLKIT_TRUSTED_PROXIES: " + err.Error()}
		}
		return nil, fmt.Errorf("build the HTTP API: %w", err)
	}
	return a, nil
}

// newSender returns the invitation mail sender: SMTP when configured,
// otherwise .eml files in the data directory, so that the whole flow can be
// followed locally without a mail server.
func newSender(cfg *config.Config, log *slog.Logger) (mail.Sender, error) {
	if cfg.SMTPURL != "" {
		s, err := mail.NewSMTPSender(cfg.SMTPURL, cfg.SMTPInsecure)
		if err != nil {
			return nil, usageError{"configuration: ENROLLKIT_SMTP_URL: " + err.Error()}
		}
		return s, nil
	}
	dir := filepath.Join(cfg.DataDir, "mail")
	if cfg.Production() {
		log.Warn("ENROLLKIT_SMTP_URL is not set: invitation emails are written as files, not sent", "dir", dir)
	}
	return mail.NewFileSender(dir, func(path string) {
		log.Info("invitation email written as a file (no ENROLLKIT_SMTP_URL)", "path", path)
	}), nil
}

func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// The server's log is written in batches, every 100 ms and at once for
	// a warning or an error (see lineBuffer).
	lines := newLineBuffer(stdout, 100*time.Millisecond, 64<<10)
	defer lines.Close()
	log := newLogger(cfg, lines)
	log = slog.New(flushOnWarn{log.Handler(), lines})
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	slog.SetDefault(log) // libraries that log through slog follow the configured format and level
	// Listening comes first: without ENROLLKIT_PUBLIC_URL (development
	// only) the emails link to this very server, on the port it got.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if cfg.PublicURL == "" {
		cfg.PublicURL = selfURL(ln.Addr())
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	// The workers run on their own context: they stop after the HTTP
	// server, so a request that queued an email has it picked up or left
	// safely in the queue.
	if err := a.queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	// One grace for the whole shutdown: the jobs get what the HTTP
	// requests left of it.
	var stopBy time.Time
	defer func() {
		grace := cfg.ShutdownTimeout
		if !stopBy.IsZero() {
			grace = max(time.Until(stopBy), time.Second)
		}
		if qerr := stopQueue(a.queue, grace, log); qerr != nil && err == nil {
			err = qerr
		}
	}()
	if !cfg.Production() {
		if err := bootstrap(ctx, a, stderr); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           a.server.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnState:         a.conns.ConnState,
	}
	metrics := "off"
	var msrv *http.Server
	if cfg.MetricsAddr != "off" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s for metrics (ENROLLKIT_METRICS_ADDR; off serves none): %w", cfg.MetricsAddr, err)
		}
		metrics = "http://" + mln.Addr().String() + "/metrics"
		msrv = &http.Server{Handler: a.server.MetricsHandler(), ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, ErrorLog: srv.ErrorLog}
		go func() {
			if err := msrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "error", err.Error())
			}
		}()
		defer msrv.Close()
	}
	log.Info("enrollkit listening", "addr", ln.Addr().String(), "env", cfg.Env, "database", a.db.Dialect(),
		"openapi", "/openapi.json", "swagger_ui", "/swagger/index.html", "metrics", metrics)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(a.conns.Listener(ln)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Say "not ready" and go on serving for the delay, so that the load
	// balancer stops sending requests while they are still answered; then
	// stop accepting, let in-flight requests finish, then the jobs.
	log.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "grace", cfg.ShutdownTimeout.String())
	stopBy = time.Now().Add(cfg.ShutdownTimeout)
	a.server.Drain()
	time.Sleep(cfg.ShutdownDelay)
	sctx, cancel := context.WithDeadline(context.Background(), stopBy)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// stopQueue lets the running jobs finish within grace, then cancels the
// ones still running and waits a little more for them to hand their jobs
// back to River. A job that had to be cancelled, or did not return even
// then, makes the stop an error, so the process exits non-zero: an
// invitation email it was sending ends unknown, never sent twice.
func stopQueue(q *store.Queue, grace time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := q.Stop(ctx)
	if err == nil {
		return nil
	}
	log.Warn("jobs still running after the shutdown grace; cancelling them", "grace", grace.String(), "error", err.Error())
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if cerr := q.StopAndCancel(cctx); cerr != nil {
		return fmt.Errorf("stop job queue: jobs did not return after cancellation: %w", cerr)
	}
	return fmt.Errorf("stop job queue: running jobs were cancelled after the %s grace", grace)
}

// selfURL is this server's own base URL on a development machine: its
// port on localhost (the enrollment page is served there too).
func selfURL(addr net.Addr) string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		port = "8080"
	}
	return "http://localhost:" + port
}

// bootstrap creates an example organization and Full Manager on the first
// development start, so that a newcomer can sign in at once. The password is
// printed to stderr once, never through the logger.
func bootstrap(ctx context.Context, a *app, stderr io.Writer) error {
	n, err := a.store.CountOrganizations(ctx)
	if err != nil || n > 0 {
		return err
	}
	email, password := a.cfg.BootstrapEmail, a.cfg.BootstrapPassword
	if email == "" {
		email = "manager@example.com"
	}
	generated := password == ""
	if generated {
		if password, err = auth.NewOpaqueToken(); err != nil {
			return err
		}
		password = password[:20]
	}
	setup, err := a.store.CreateOrganization(ctx, lms.NewOrganization{Name: "Example Organization",
		ManagerEmail: email, ManagerPassword: password})
	if err != nil {
		return fmt.Errorf("create the example organization: %w", err)
	}
	shown := password
	if !generated {
		shown = "(the value of ENROLLKIT_BOOTSTRAP_PASSWORD)"
	}
	fmt.Fprintf(stderr, `
enrollkit: created an example organization %s with a Full Manager.
  email:    %s
  password: %s
Sign in:
  curl -s -X POST http://localhost%s/api/v1/auth/login -H 'Content-Type: application/json' \
    -d '{"email":"%s","password":"<password>"}'
This is shown once; development mode only.

`, setup.OrganizationID, email, shown, portOf(a.cfg.Addr), email)
	return nil
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return ":" + port
}

func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DatabaseMaxConns})
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	v, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s migrated to version %d in %s\n", db.Dialect(), v, time.Since(start).Round(time.Millisecond))
	return nil
}

// hasherMetrics exports what the password hasher does: a rate of
// derivations near the machine's hash rate, slots always in use or busy
// refusals say that sign-ins and redemptions are CPU-bound.
func hasherMetrics(h *auth.Hasher) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "enrollkit_password_derivations_total",
			Help: "argon2id derivations (password hashes and checks)."},
			func() float64 { return float64(h.Stats().Derivations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "enrollkit_password_busy_total",
			Help: "Password hashes and checks refused because every hashing slot stayed busy (answered 503)."},
			func() float64 { return float64(h.Stats().Busy) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "enrollkit_password_slots_in_use",
			Help: "Hashing slots deriving now."},
			func() float64 { return float64(h.Stats().InUse) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "enrollkit_password_slots",
			Help: "Hashing slots (derivations that may run at once)."},
			func() float64 { return float64(h.Stats().Slots) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "enrollkit_password_waiting",
			Help: "Password hashes and checks waiting for a hashing slot now."},
			func() float64 { return float64(h.Stats().Waiting) }),
	}
}

// passwordWaitHistogram is how long hashes and checks waited for a slot:
// in a rush beyond the cores (an office redeeming at once) the wait grows
// toward ENROLLKIT_PASSWORD_WAIT, past which the request is answered 503.
// The buckets span one derivation (about 15 ms) to well past the default
// 2 s wait.
func passwordWaitHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "enrollkit_password_wait_seconds",
		Help:    "Time password hashes and checks waited for a hashing slot (0 when one was free).",
		Buckets: []float64{0.001, 0.005, 0.015, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}})
}

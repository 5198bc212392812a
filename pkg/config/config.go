// Package config reads enrollkit's configuration from ENROLLKIT_*
// environment variables. It is the only package that looks at the
// environment, so every setting is documented and checked in one place.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// Defaults of the settings that api.New and store.New fill in too, where
// their callers (tests among them) leave a field zero: all three read
// these, so that each default is written once. The defaults of the
// verification TTL, the mail quota and the password wait are the domain's
// and the hasher's own (lms.DefaultVerificationTTL, lms.DefaultMailQuota,
// auth.DefaultMaxWait), which Load reads.
const (
	DefaultAddr       = ":8080"
	DefaultBodyLimit  = 1 << 20
	DefaultRefreshTTL = 30 * 24 * time.Hour
	// Failed attempts allowed per DefaultThrottleWindow (see the Config
	// fields of the same names).
	DefaultLoginIPLimit         = 30
	DefaultLoginAccountLimit    = 10
	DefaultLoginAccountAnyLimit = 100
	DefaultRedeemIPLimit        = 10
	DefaultRedeemSiteLimit      = 100
	DefaultThrottleWindow       = 15 * time.Minute
)

// Config is the whole configuration of one enrollkit process.
type Config struct {
	Env  string
	Addr string
	// MetricsAddr is where /metrics is served, apart from the API; "off"
	// serves none. The default is loopback: metrics name routes, counts and
	// the process's state, nothing for the public.
	MetricsAddr string
	DataDir     string
	DatabaseURL string
	Secret      []byte
	// PublicURL is the base URL emails link to; empty in development
	// means this server itself (see the enrollment page).
	PublicURL string
	// EnrollPage serves the enrollment page at /enroll.
	EnrollPage     bool
	LogLevel       slog.Level
	LogFormat      string
	CORSOrigins    []string
	TrustedProxies []string
	BodyLimit      int64
	RedisURL       string
	SMTPURL        string
	// SMTPInsecure lets smtp:// send in clear to a server that offers no
	// STARTTLS (a local mail catcher); by default TLS is required.
	SMTPInsecure bool
	MailFrom     string

	BootstrapEmail    string
	BootstrapPassword string

	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// VerificationTTL is how long a redemption pending email verification
	// keeps its seat.
	VerificationTTL time.Duration

	// Failed sign-in attempts allowed per client IP and per account in
	// ThrottleWindow before 429.
	LoginIPLimit      int
	LoginAccountLimit int
	// LoginAccountAnyLimit is the account-wide budget of failed sign-ins
	// per window, past which attempts are slowed down, not refused.
	LoginAccountAnyLimit int
	// Failed passcode attempts (unknown, paused, revoked... passcodes)
	// allowed per client IP in ThrottleWindow before 429.
	RedeemIPLimit int
	// RedeemSiteLimit bounds wrong passcodes per IPv6 /48 per window.
	RedeemSiteLimit int
	// MailOrgHourly and MailOrgDaily bound one organization's invitation
	// emails in any hour and day; MailOrgRate is how many a second leave.
	MailOrgHourly, MailOrgDaily, MailOrgRate int
	ThrottleWindow                           time.Duration

	// PasswordWait bounds how long a sign-in or redemption waits for a
	// password-hashing slot before it is answered 503 with Retry-After.
	PasswordWait time.Duration

	// MemoryLimit is the Go runtime's soft memory limit in bytes (0, the
	// default: leave it to GOMEMLIMIT or unlimited).
	MemoryLimit int64

	// MaxInFlight bounds the API requests served at once; more wait for
	// their turn until their deadline.
	MaxInFlight int
	// MaxConnections bounds the open HTTP connections (0: no bound); more
	// wait to be accepted, and answers close theirs at the bound.
	MaxConnections int

	// RequestTimeout is every API request's deadline: its database calls
	// give up when it passes and the request is answered 503.
	RequestTimeout time.Duration
	// ShutdownDelay is how long a stopping server keeps serving, /readyz
	// answering 503, before it stops accepting connections: a load
	// balancer's time to stop sending it requests.
	ShutdownDelay time.Duration
	// DatabaseMaxConns bounds each process's PostgreSQL or SQLite
	// connections (0: the store's default per dialect).
	DatabaseMaxConns int

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
}

// Production reports whether the process runs in production mode, where
// nothing is generated or seeded on its own.
func (c *Config) Production() bool { return c.Env == Production }

// IsPostgres reports whether the database is PostgreSQL rather than SQLite.
func (c *Config) IsPostgres() bool { return IsPostgresURL(c.DatabaseURL) }

// IsPostgresURL reports whether u names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Load reads the configuration through getenv (os.Getenv in production,
// a map in tests). In development it creates the data directory and a
// secret kept there, so that tokens survive restarts without any setup.
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Env:                  r.str("ENROLLKIT_ENV", Development),
		Addr:                 r.str("ENROLLKIT_ADDR", DefaultAddr),
		MetricsAddr:          r.str("ENROLLKIT_METRICS_ADDR", "127.0.0.1:9090"),
		DataDir:              r.str("ENROLLKIT_DATA_DIR", "./data"),
		PublicURL:            r.str("ENROLLKIT_PUBLIC_URL", ""),
		EnrollPage:           r.onOff("ENROLLKIT_ENROLL_PAGE", true),
		LogFormat:            r.str("ENROLLKIT_LOG_FORMAT", "json"),
		CORSOrigins:          r.list("ENROLLKIT_CORS_ORIGINS"),
		TrustedProxies:       r.list("ENROLLKIT_TRUSTED_PROXIES"),
		BodyLimit:            r.int64("ENROLLKIT_BODY_LIMIT", DefaultBodyLimit),
		RedisURL:             r.str("ENROLLKIT_REDIS_URL", ""),
		SMTPURL:              r.str("ENROLLKIT_SMTP_URL", ""),
		SMTPInsecure:         r.bool("ENROLLKIT_SMTP_INSECURE"),
		MailFrom:             r.str("ENROLLKIT_MAIL_FROM", "enrollkit <no-reply@enrollkit.localhost>"),
		BootstrapEmail:       r.str("ENROLLKIT_BOOTSTRAP_EMAIL", ""),
		BootstrapPassword:    r.str("ENROLLKIT_BOOTSTRAP_PASSWORD", ""),
		AccessTTL:            r.duration("ENROLLKIT_ACCESS_TTL", 15*time.Minute),
		RefreshTTL:           r.duration("ENROLLKIT_REFRESH_TTL", DefaultRefreshTTL),
		VerificationTTL:      r.duration("ENROLLKIT_VERIFICATION_TTL", lms.DefaultVerificationTTL),
		LoginIPLimit:         int(r.int64("ENROLLKIT_LOGIN_IP_LIMIT", DefaultLoginIPLimit)),
		LoginAccountLimit:    int(r.int64("ENROLLKIT_LOGIN_ACCOUNT_LIMIT", DefaultLoginAccountLimit)),
		LoginAccountAnyLimit: int(r.int64("ENROLLKIT_LOGIN_ACCOUNT_ANY_LIMIT", DefaultLoginAccountAnyLimit)),
		RedeemIPLimit:        int(r.int64("ENROLLKIT_REDEEM_IP_LIMIT", DefaultRedeemIPLimit)),
		RedeemSiteLimit:      int(r.int64("ENROLLKIT_REDEEM_SITE_LIMIT", DefaultRedeemSiteLimit)),
		MailOrgHourly:        int(r.int64("ENROLLKIT_MAIL_ORG_HOURLY", int64(lms.DefaultMailQuota.PerHour))),
		MailOrgDaily:         int(r.int64("ENROLLKIT_MAIL_ORG_DAILY", int64(lms.DefaultMailQuota.PerDay))),
		MailOrgRate:          int(r.int64("ENROLLKIT_MAIL_ORG_RATE", int64(lms.DefaultMailQuota.Rate))),
		ThrottleWindow:       r.duration("ENROLLKIT_THROTTLE_WINDOW", DefaultThrottleWindow),
		PasswordWait:         r.duration("ENROLLKIT_PASSWORD_WAIT", auth.DefaultMaxWait),
		ShutdownDelay:        r.duration("ENROLLKIT_SHUTDOWN_DELAY", 0),
		DatabaseMaxConns:     int(r.int64("ENROLLKIT_DATABASE_MAX_CONNS", 0)),
		MaxInFlight:          int(r.int64("ENROLLKIT_MAX_IN_FLIGHT", DefaultMaxInFlight)),
		MaxConnections:       int(r.int64("ENROLLKIT_MAX_CONNECTIONS", DefaultMaxConnections)),
		ReadHeaderTimeout:    r.duration("ENROLLKIT_READ_HEADER_TIMEOUT", 5*time.Second),
		ReadTimeout:          r.duration("ENROLLKIT_READ_TIMEOUT", 30*time.Second),
		WriteTimeout:         r.duration("ENROLLKIT_WRITE_TIMEOUT", 30*time.Second),
		IdleTimeout:          r.duration("ENROLLKIT_IDLE_TIMEOUT", 120*time.Second),
		ShutdownTimeout:      r.duration("ENROLLKIT_SHUTDOWN_TIMEOUT", 30*time.Second),
	}
	c.DatabaseURL = r.str("ENROLLKIT_DATABASE_URL", filepath.Join(c.DataDir, "enrollkit.db"))
	// The request deadline follows a shorter write timeout, so that its 503
	// can still be sent.
	c.RequestTimeout = r.duration("ENROLLKIT_REQUEST_TIMEOUT", min(DefaultRequestTimeout, c.WriteTimeout-time.Second))
	// No soft memory limit unless asked for: one below what the server
	// legitimately holds (every open connection keeps buffers and a
	// goroutine) makes the collector run back to back. Two thousand idle
	// keep-alive connections under a 48 MiB limit cost each request four
	// to six times its CPU. Set it, or GOMEMLIMIT (which wins), somewhat
	// below the container's memory instead.
	if getenv("GOMEMLIMIT") == "" {
		c.MemoryLimit = r.int64("ENROLLKIT_MEMORY_LIMIT", 0)
	}
	level := r.str("ENROLLKIT_LOG_LEVEL", "info")
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		r.fail("ENROLLKIT_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.Production() && getenv("ENROLLKIT_PUBLIC_URL") == "" {
		// Every invitation and verification email links there: a default
		// of localhost would send employees to their own machines.
		return nil, errors.New("ENROLLKIT_PUBLIC_URL: required in production (the frontend's base URL, which emails link to)")
	}
	secret := getenv("ENROLLKIT_SECRET")
	switch {
	case secret != "" && len(secret) < 32:
		return nil, errors.New("ENROLLKIT_SECRET: must be at least 32 bytes")
	case secret != "":
		c.Secret = []byte(secret)
	case c.Production():
		return nil, errors.New("ENROLLKIT_SECRET: required in production (at least 32 bytes)")
	default:
		s, err := developmentSecret(c.DataDir)
		if err != nil {
			return nil, fmt.Errorf("ENROLLKIT_SECRET: not set, and no development secret could be kept in %s: %v", c.DataDir, err)
		}
		c.Secret = s
	}
	return c, nil
}

// checks are the checks of Config.check, in the order they are made: each
// returns the error of the first of its settings that is wrong, or nil.
var checks = []func(c *Config) error{
	checkEnv,
	checkAddrs,
	checkPublicURL,
	checkLogFormat,
	checkCORSOrigins,
	checkTrustedProxies,
	checkSizes,
	checkServiceURLs,
	checkLifetimes,
	checkQuotas,
	checkPasswordWait,
	checkRequestTimeout,
	checkMaxInFlight,
	checkShutdown,
}

// check returns the first error of checks, so that one wrong setting is
// reported as one line.
func (c *Config) check() error {
	for _, check := range checks {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

// bad is the error of the setting name: its variable, then msg.
func bad(name, msg string) error { return fmt.Errorf("%s: %s", name, msg) }

func checkEnv(c *Config) error {
	if c.Env != Development && c.Env != Production {
		return bad("ENROLLKIT_ENV", "must be development or production")
	}
	return nil
}

// checkAddrs checks the addresses the API and the metrics listen on.
func checkAddrs(c *Config) error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("ENROLLKIT_ADDR", "must be host:port or :port")
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil && c.MetricsAddr != "off" {
		return bad("ENROLLKIT_METRICS_ADDR", "must be host:port, :port or off")
	}
	if _, port, _ := net.SplitHostPort(c.Addr); c.MetricsAddr == c.Addr && port != "0" {
		return bad("ENROLLKIT_METRICS_ADDR", "must differ from ENROLLKIT_ADDR: metrics are not served to the API's clients")
	}
	return nil
}

func checkPublicURL(c *Config) error {
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return bad("ENROLLKIT_PUBLIC_URL", "must be an absolute http(s) URL")
	}
	return nil
}

func checkLogFormat(c *Config) error {
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return bad("ENROLLKIT_LOG_FORMAT", "must be json or text")
	}
	return nil
}

func checkCORSOrigins(c *Config) error {
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || u.Path != "") {
			return bad("ENROLLKIT_CORS_ORIGINS", fmt.Sprintf("%q is not an origin like https://app.example.com", o))
		}
	}
	return nil
}

func checkTrustedProxies(c *Config) error {
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return bad("ENROLLKIT_TRUSTED_PROXIES", fmt.Sprintf("%q is not an IP address or CIDR", p))
			}
		}
	}
	return nil
}

// checkSizes checks the memory limit and the request body limit.
func checkSizes(c *Config) error {
	if c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < 16<<20) {
		return bad("ENROLLKIT_MEMORY_LIMIT", "must be 0 (no limit) or at least 16777216 bytes")
	}
	if c.BodyLimit < 1024 {
		return bad("ENROLLKIT_BODY_LIMIT", "must be at least 1024 bytes")
	}
	return nil
}

// checkServiceURLs checks the URLs of Redis, the SMTP server and the
// database.
func checkServiceURLs(c *Config) error {
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return bad("ENROLLKIT_REDIS_URL", "must be a redis:// or rediss:// URL")
		}
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			return bad("ENROLLKIT_SMTP_URL", "must be an smtp:// or smtps:// URL")
		}
	}
	if strings.Contains(c.DatabaseURL, "://") && !IsPostgresURL(c.DatabaseURL) {
		return bad("ENROLLKIT_DATABASE_URL", "must be a postgres:// URL or a SQLite file path")
	}
	return nil
}

// checkLifetimes checks the lifetimes of tokens and of pending
// redemptions.
func checkLifetimes(c *Config) error {
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		return bad("ENROLLKIT_ACCESS_TTL", "must be between 1m and 24h")
	}
	if c.RefreshTTL < c.AccessTTL {
		return bad("ENROLLKIT_REFRESH_TTL", "must not be shorter than ENROLLKIT_ACCESS_TTL")
	}
	if c.VerificationTTL < time.Minute || c.VerificationTTL > 30*24*time.Hour {
		return bad("ENROLLKIT_VERIFICATION_TTL", "must be between 1m and 720h")
	}
	return nil
}

// checkQuotas checks the mail quota and the throttles.
func checkQuotas(c *Config) error {
	if c.MailOrgHourly < 1 || c.MailOrgDaily < c.MailOrgHourly || c.MailOrgRate < 1 || c.MailOrgRate > 1000 {
		return bad("ENROLLKIT_MAIL_ORG_*", "the hourly quota must be at least 1, the daily one at least the hourly one, the rate 1 to 1000 a second")
	}
	if c.LoginIPLimit < 1 || c.LoginAccountLimit < 1 || c.LoginAccountAnyLimit < 1 || c.RedeemIPLimit < 1 || c.RedeemSiteLimit < 1 {
		return bad("ENROLLKIT_*_LIMIT", "throttle limits must be at least 1")
	}
	if c.ThrottleWindow < time.Second {
		return bad("ENROLLKIT_THROTTLE_WINDOW", "must be at least 1s")
	}
	return nil
}

// DefaultMaxInFlight is how many API requests are served at once: enough
// to keep the database pool (20 connections) and the cores busy, few
// enough that thousands of concurrent clients cost their connections'
// buffers, not thousands of answers in memory at once.
const DefaultMaxInFlight = 64

// DefaultRequestTimeout is an API request's deadline.
const DefaultRequestTimeout = 10 * time.Second

func checkShutdown(c *Config) error {
	if c.ShutdownDelay < 0 || c.ShutdownDelay >= c.ShutdownTimeout {
		return bad("ENROLLKIT_SHUTDOWN_DELAY", "must be from 0 and shorter than ENROLLKIT_SHUTDOWN_TIMEOUT")
	}
	if c.DatabaseMaxConns < 0 || c.DatabaseMaxConns > 1000 {
		return bad("ENROLLKIT_DATABASE_MAX_CONNS", "must be from 0 (the default) to 1000")
	}
	return nil
}

// DefaultMaxConnections is how many HTTP connections a process holds open:
// each costs a goroutine and buffers, so the bound keeps 2,000 concurrent
// clients under 150 MB, and is far above what 64 requests in flight need.
const DefaultMaxConnections = 512

func checkMaxInFlight(c *Config) error {
	if c.MaxInFlight < 0 || c.MaxInFlight > 100_000 {
		return bad("ENROLLKIT_MAX_IN_FLIGHT", "must be from 0 (no bound) to 100000")
	}
	if c.MaxConnections < 0 || c.MaxConnections > 1_000_000 {
		return bad("ENROLLKIT_MAX_CONNECTIONS", "must be from 0 (no bound) to 1000000")
	}
	return nil
}

func checkRequestTimeout(c *Config) error {
	if c.RequestTimeout < time.Second || c.RequestTimeout >= c.WriteTimeout {
		// Past the write timeout the 503 could not be sent.
		return bad("ENROLLKIT_REQUEST_TIMEOUT", "must be at least 1s and shorter than ENROLLKIT_WRITE_TIMEOUT")
	}
	if c.RequestTimeout <= c.PasswordWait {
		return bad("ENROLLKIT_REQUEST_TIMEOUT", "must be longer than ENROLLKIT_PASSWORD_WAIT")
	}
	return nil
}

func checkPasswordWait(c *Config) error {
	if c.PasswordWait < time.Millisecond || c.PasswordWait > time.Minute {
		return bad("ENROLLKIT_PASSWORD_WAIT", "must be from 1ms to 1m")
	}
	if c.PasswordWait >= c.WriteTimeout {
		// Past the write timeout the answer could not be sent anyway.
		return bad("ENROLLKIT_PASSWORD_WAIT", "must be shorter than ENROLLKIT_WRITE_TIMEOUT")
	}
	return nil
}

// developmentSecret returns the secret kept in dir, creating it on first use.
func developmentSecret(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	s := []byte(hex.EncodeToString(raw))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race: use its secret
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Write(s); err != nil {
		return nil, err
	}
	return s, nil
}

// reader parses variables, remembering the first error.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", name, msg)
	}
}

// onOff reads "on" or "off".
func (r *reader) onOff(name string, def bool) bool {
	switch v := r.str(name, ""); v {
	case "":
		return def
	case "on":
		return true
	case "off":
		return false
	}
	r.fail(name, "must be on or off")
	return def
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) list(name string) []string {
	var out []string
	for _, p := range strings.Split(r.getenv(name), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *reader) int64(name string, def int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(name, fmt.Sprintf("%q is not a whole number", v))
	}
	return n
}

// bool reads true or false (false when unset).
func (r *reader) bool(name string) bool {
	switch v := r.str(name, ""); v {
	case "", "false":
		return false
	case "true":
		return true
	default:
		r.fail(name, fmt.Sprintf("%q is neither true nor false", v))
		return false
	}
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, fmt.Sprintf("%q is not a positive duration like 15m", v))
	}
	return d
}

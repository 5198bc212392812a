package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaultsInDevelopment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(env(map[string]string{"ENROLLKIT_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.BodyLimit != 1<<20 || c.Production() || c.IsPostgres() {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if c.DatabaseURL != filepath.Join(dir, "enrollkit.db") {
		t.Errorf("database URL = %q", c.DatabaseURL)
	}
	if len(c.TrustedProxies) != 0 {
		t.Errorf("trusted proxies must default to none, got %v", c.TrustedProxies)
	}
	// A soft memory limit below what the server holds under load makes
	// the collector run back to back; only the operator knows the
	// container's memory.
	if c.MemoryLimit != 0 {
		t.Errorf("memory limit must default to none, got %d", c.MemoryLimit)
	}
	if c.SMTPInsecure {
		t.Error("SMTP must require TLS by default")
	}
	// A shorter write timeout brings the request deadline with it.
	if c, err := Load(env(map[string]string{"ENROLLKIT_DATA_DIR": dir, "ENROLLKIT_WRITE_TIMEOUT": "6s"})); err != nil {
		t.Errorf("ENROLLKIT_WRITE_TIMEOUT=6s: %v", err)
	} else if c.RequestTimeout != 5*time.Second {
		t.Errorf("ENROLLKIT_WRITE_TIMEOUT=6s: request deadline %v; want 5s", c.RequestTimeout)
	}
	if c, err := Load(env(map[string]string{"ENROLLKIT_DATA_DIR": dir, "ENROLLKIT_SMTP_INSECURE": "true"})); err != nil || !c.SMTPInsecure {
		t.Errorf("ENROLLKIT_SMTP_INSECURE=true: %v, %v", c, err)
	}
	if len(c.Secret) < 32 {
		t.Fatalf("development secret too short: %d", len(c.Secret))
	}
	again, err := Load(env(map[string]string{"ENROLLKIT_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Secret) != string(c.Secret) {
		t.Error("development secret must be kept across starts")
	}
	if fi, err := os.Stat(filepath.Join(dir, "secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v %v", fi, err)
	}
}

func TestLoadRejectsInvalidConfiguration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"production without secret", map[string]string{"ENROLLKIT_ENV": "production", "ENROLLKIT_PUBLIC_URL": "https://learn.example.com"}, "ENROLLKIT_SECRET"},
		{"production without public URL", map[string]string{"ENROLLKIT_ENV": "production", "ENROLLKIT_SECRET": strings.Repeat("s", 32)}, "ENROLLKIT_PUBLIC_URL"},
		{"short secret", map[string]string{"ENROLLKIT_SECRET": "short"}, "ENROLLKIT_SECRET"},
		{"unknown env", map[string]string{"ENROLLKIT_ENV": "staging"}, "ENROLLKIT_ENV"},
		{"bad addr", map[string]string{"ENROLLKIT_ADDR": "8080"}, "ENROLLKIT_ADDR"},
		{"bad metrics addr", map[string]string{"ENROLLKIT_METRICS_ADDR": "9090"}, "ENROLLKIT_METRICS_ADDR"},
		{"enroll page neither on nor off", map[string]string{"ENROLLKIT_ENROLL_PAGE": "maybe"}, "ENROLLKIT_ENROLL_PAGE"},
		{"metrics on the API address", map[string]string{"ENROLLKIT_ADDR": ":8080", "ENROLLKIT_METRICS_ADDR": ":8080"}, "ENROLLKIT_METRICS_ADDR"},
		{"bad body limit", map[string]string{"ENROLLKIT_BODY_LIMIT": "lots"}, "ENROLLKIT_BODY_LIMIT"},
		{"tiny body limit", map[string]string{"ENROLLKIT_BODY_LIMIT": "10"}, "ENROLLKIT_BODY_LIMIT"},
		{"bad proxy", map[string]string{"ENROLLKIT_TRUSTED_PROXIES": "10.0.0.0/99"}, "ENROLLKIT_TRUSTED_PROXIES"},
		{"bad origin", map[string]string{"ENROLLKIT_CORS_ORIGINS": "app.example.com"}, "ENROLLKIT_CORS_ORIGINS"},
		{"bad log level", map[string]string{"ENROLLKIT_LOG_LEVEL": "loud"}, "ENROLLKIT_LOG_LEVEL"},
		{"bad database", map[string]string{"ENROLLKIT_DATABASE_URL": "mysql://x"}, "ENROLLKIT_DATABASE_URL"},
		{"bad public url", map[string]string{"ENROLLKIT_PUBLIC_URL": "/enroll"}, "ENROLLKIT_PUBLIC_URL"},
		{"bad insecure flag", map[string]string{"ENROLLKIT_SMTP_INSECURE": "yes"}, "ENROLLKIT_SMTP_INSECURE"},
		{"bad duration", map[string]string{"ENROLLKIT_ACCESS_TTL": "soon"}, "ENROLLKIT_ACCESS_TTL"},
		{"no password wait", map[string]string{"ENROLLKIT_PASSWORD_WAIT": "0s"}, "ENROLLKIT_PASSWORD_WAIT"},
		{"password wait past the write timeout", map[string]string{"ENROLLKIT_PASSWORD_WAIT": "30s", "ENROLLKIT_WRITE_TIMEOUT": "30s"}, "ENROLLKIT_PASSWORD_WAIT"},
		{"request deadline past the write timeout", map[string]string{"ENROLLKIT_REQUEST_TIMEOUT": "30s", "ENROLLKIT_WRITE_TIMEOUT": "30s"}, "ENROLLKIT_REQUEST_TIMEOUT"},
		{"shutdown delay past the grace", map[string]string{"ENROLLKIT_SHUTDOWN_DELAY": "30s"}, "ENROLLKIT_SHUTDOWN_DELAY"},
		{"negative pool", map[string]string{"ENROLLKIT_DATABASE_MAX_CONNS": "-1"}, "ENROLLKIT_DATABASE_MAX_CONNS"},
		{"negative in-flight bound", map[string]string{"ENROLLKIT_MAX_IN_FLIGHT": "-1"}, "ENROLLKIT_MAX_IN_FLIGHT"},
		{"negative connection bound", map[string]string{"ENROLLKIT_MAX_CONNECTIONS": "-1"}, "ENROLLKIT_MAX_CONNECTIONS"},
		{"huge connection bound", map[string]string{"ENROLLKIT_MAX_CONNECTIONS": "2000000"}, "ENROLLKIT_MAX_CONNECTIONS"},
		{"request deadline within the password wait", map[string]string{"ENROLLKIT_REQUEST_TIMEOUT": "2s"}, "ENROLLKIT_REQUEST_TIMEOUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.env["ENROLLKIT_DATA_DIR"] = t.TempDir()
			_, err := Load(env(tc.env))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one line starting with %s", err, tc.want)
			}
		})
	}
}

func TestLoadProduction(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"ENROLLKIT_ENV":             "production",
		"ENROLLKIT_PUBLIC_URL":      "https://learn.example.com",
		"ENROLLKIT_SECRET":          strings.Repeat("s", 32),
		"ENROLLKIT_DATABASE_URL":    "postgres://u@db/enrollkit",
		"ENROLLKIT_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
		"ENROLLKIT_ACCESS_TTL":      "5m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Production() || !c.IsPostgres() || len(c.TrustedProxies) != 2 || c.AccessTTL != 5*time.Minute {
		t.Errorf("unexpected: %+v", c)
	}
}

// TestSharedDefaults pins the defaults that api.New and store.New apply
// as well: they read the same constants, so a change here changes the
// server's behaviour in all three.
func TestSharedDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"ENROLLKIT_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name      string
		got, want any
	}{
		{"ENROLLKIT_ADDR", c.Addr, ":8080"},
		{"ENROLLKIT_BODY_LIMIT", c.BodyLimit, int64(1 << 20)},
		{"ENROLLKIT_REFRESH_TTL", c.RefreshTTL, 30 * 24 * time.Hour},
		{"ENROLLKIT_VERIFICATION_TTL", c.VerificationTTL, 48 * time.Hour},
		{"ENROLLKIT_LOGIN_IP_LIMIT", c.LoginIPLimit, 30},
		{"ENROLLKIT_LOGIN_ACCOUNT_LIMIT", c.LoginAccountLimit, 10},
		{"ENROLLKIT_LOGIN_ACCOUNT_ANY_LIMIT", c.LoginAccountAnyLimit, 100},
		{"ENROLLKIT_REDEEM_IP_LIMIT", c.RedeemIPLimit, 10},
		{"ENROLLKIT_REDEEM_SITE_LIMIT", c.RedeemSiteLimit, 100},
		{"ENROLLKIT_THROTTLE_WINDOW", c.ThrottleWindow, 15 * time.Minute},
		{"ENROLLKIT_MAIL_ORG_HOURLY", c.MailOrgHourly, 1000},
		{"ENROLLKIT_MAIL_ORG_DAILY", c.MailOrgDaily, 5000},
		{"ENROLLKIT_MAIL_ORG_RATE", c.MailOrgRate, 10},
		{"ENROLLKIT_PASSWORD_WAIT", c.PasswordWait, 2 * time.Second},
		{"ENROLLKIT_REQUEST_TIMEOUT", c.RequestTimeout, 10 * time.Second},
		{"ENROLLKIT_MAX_IN_FLIGHT", c.MaxInFlight, 64},
		{"ENROLLKIT_MAX_CONNECTIONS", c.MaxConnections, 512},
	} {
		if d.got != d.want {
			t.Errorf("%s defaults to %v, want %v", d.name, d.got, d.want)
		}
	}
}

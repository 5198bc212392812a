package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// binary is the enrollkit built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "enrollkit-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "enrollkit")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build enrollkit: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running enrollkit process.
type proc struct {
	cmd  *exec.Cmd
	addr string
	// metrics is the URL of /metrics on the metrics address.
	metrics string
	stderr  *lockedBuffer
	done    chan error
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs enrollkit serve in dir with env (and nothing else of this
// process's environment but PATH and HOME), on a free loopback port, and
// waits until it listens. The process is killed when the test ends.
func start(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ENROLLKIT_ADDR=127.0.0.1:0", "ENROLLKIT_METRICS_ADDR=127.0.0.1:0"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line struct{ Msg, Addr, Metrics string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "enrollkit listening" {
				p.metrics = line.Metrics
				addrc <- line.Addr
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("enrollkit exited before listening: %v\n%s", err, p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("enrollkit did not listen within 20s\n%s", p.stderr)
	}
	return p
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

func (p *proc) post(t *testing.T, path string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(p.url(path), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestFreshStartServesWithNoConfiguration(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	res, err := http.Get(p.url("/healthz"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res, err = http.Get(p.url("/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ OpenAPI string }
	json.NewDecoder(res.Body).Decode(&doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is not OpenAPI 3: %q", doc.OpenAPI)
	}
	if res, _ := http.Get(p.url("/readyz")); res.StatusCode != 200 {
		t.Fatalf("readyz = %d", res.StatusCode)
	}
	// The emails' links land on this server's own enrollment page.
	if res, err := http.Get(p.url("/enroll")); err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("the enrollment page: %v %v", res, err)
	}
	res, err = http.Get(p.metrics)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	if res, err := http.Get(p.url("/metrics")); err != nil || res.StatusCode != 404 {
		t.Fatalf("/metrics on the API's address: %v %v, want 404", res, err)
	}
	for _, want := range []string{`go_sql_open_connections{db_name="enrollkit"}`, `enrollkit_http_requests_total{method="GET",route="/readyz",status="200"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The printed credentials sign in.
	var password string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "password:" {
			password = f[1]
		}
	}
	if password == "" {
		t.Fatalf("no password printed:\n%s", p.stderr)
	}
	res = p.post(t, "/api/v1/auth/login", map[string]string{"email": "manager@example.com", "password": password})
	if res.StatusCode != 200 {
		t.Fatalf("login with the printed password: %d", res.StatusCode)
	}
	// The sign-in's wait for a hashing slot is in the metrics.
	res, err = http.Get(p.metrics)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ = io.ReadAll(res.Body)
	waits, derivations := metricValue(t, metrics, "enrollkit_password_wait_seconds_count"), metricValue(t, metrics, "enrollkit_password_derivations_total")
	if waits < 1 || waits != derivations || metricValue(t, metrics, "enrollkit_password_waiting") != 0 {
		t.Errorf("after a sign-in: %v waits for a hashing slot, %v derivations; want as many waits as derivations:\n%s", waits, derivations, metrics)
	}
}

// metricValue is the value of an unlabelled metric in a Prometheus text
// exposition.
func metricValue(t *testing.T, exposition []byte, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(exposition), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestProductionSeedsNothing(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "ENROLLKIT_ENV=production", "ENROLLKIT_SECRET=production-secret-of-at-least-32-bytes!",
		"ENROLLKIT_PUBLIC_URL=https://learn.example.com")
	if strings.Contains(p.stderr.String(), "password") {
		t.Fatalf("production printed credentials:\n%s", p.stderr)
	}
	res := p.post(t, "/api/v1/auth/login", map[string]string{"email": "manager@example.com", "password": "anything-at-all"})
	if res.StatusCode != 401 {
		t.Fatalf("login on an unseeded production database: %d", res.StatusCode)
	}
}

func TestInvalidConfigurationExitsWithStatus2(t *testing.T) {
	t.Parallel()
	for name, env := range map[string][]string{
		"production without secret": {"ENROLLKIT_ENV=production"},
		"bad body limit":            {"ENROLLKIT_BODY_LIMIT=lots"},
		"bad proxies":               {"ENROLLKIT_TRUSTED_PROXIES=everyone"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary, "serve")
			cmd.Dir = t.TempDir()
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if cmd.ProcessState.ExitCode() != 2 {
				t.Fatalf("exit = %v, want 2; stderr: %s", err, &stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "ENROLLKIT_") {
				t.Fatalf("want one line naming the variable, got %q", stderr.String())
			}
		})
	}
}

func TestSIGTERMLetsAnInFlightRequestFinish(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"nobody@example.com","password":"not-the-password"}`
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:half])
	time.Sleep(200 * time.Millisecond) // the server is now reading this request's body
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := conn.Write([]byte(body[half:])); err != nil {
		t.Fatalf("the in-flight request was cut off: %v", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to the in-flight request: %v", err)
	}
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("in-flight request answered %d, want 401", res.StatusCode)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}

func TestTwoProcessesShareTheThrottleThroughRedis(t *testing.T) {
	t.Parallel()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rc.Close()
	if err := rc.Ping(t.Context()).Err(); err != nil {
		t.Skipf("Redis not reachable at 127.0.0.1:6379: %v", err)
	}
	dir := t.TempDir()
	env := []string{"ENROLLKIT_REDIS_URL=redis://127.0.0.1:6379/0", "ENROLLKIT_LOGIN_ACCOUNT_LIMIT=3", "ENROLLKIT_LOGIN_IP_LIMIT=1000"}
	a := start(t, dir, env...)
	b := start(t, dir, env...) // same data directory: same database and secret
	victim := map[string]string{"email": uuid.NewString() + "@example.com", "password": "wrong-password-1"}
	for i := range 3 {
		if res := a.post(t, "/api/v1/auth/login", victim); res.StatusCode != 401 {
			t.Fatalf("failure %d through A: %d", i, res.StatusCode)
		}
	}
	res := b.post(t, "/api/v1/auth/login", victim)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("B after 3 failures through A: %d, want 429 with Retry-After", res.StatusCode)
	}
}

func TestOrgCreateAndMigrate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	if out, errs, code := run("migrate"); code != 0 || !strings.Contains(out, "migrated to version") {
		t.Fatalf("migrate: %d %s %s", code, out, errs)
	}
	out, errs, code := run("org", "create", "--name", "Initech", "--manager-email", "boss@initech.example", "--manager-password", "tps-Reports-2026!")
	if code != 0 {
		t.Fatalf("org create: %d %s", code, errs)
	}
	var ids map[string]string
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("org create printed %q: %v", out, err)
	}
	for _, k := range []string{"organization_id", "organization_group_id", "manager_id"} {
		if _, err := uuid.Parse(ids[k]); err != nil {
			t.Fatalf("%s = %q", k, ids[k])
		}
	}
	if _, errs, code := run("org", "create", "--name", "X", "--manager-email", "nope", "--manager-password", "password"); code != 2 || !strings.Contains(errs, "--manager-email") {
		t.Fatalf("invalid org create: %d %s", code, errs)
	}
	if _, _, code := run("frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

func TestCoursesImport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	out, errs, code := run("org", "create", "--name", "Catalog Co", "--manager-email", "boss@catalog.example", "--manager-password", "tps-Reports-2026!")
	if code != 0 {
		t.Fatalf("org create: %s", errs)
	}
	var ids map[string]string
	json.Unmarshal([]byte(out), &ids)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := write("bad.csv", "name,code\n\"Unclosed,X1\nOK,X2\n")
	if _, errs, code := run("courses", "import", "--org", ids["organization_id"], malformed); code != 2 || !strings.Contains(errs, "nothing was imported") {
		t.Fatalf("malformed file: exit %d, %s", code, errs)
	}
	good := write("good.csv", "name,code,description\nSafety 101,SAF-101,Basics\n,NONAME,missing name\nForklift,SAF-101,duplicate code\nFirst aid,,\n")
	out, errs, code = run("courses", "import", "--org", ids["organization_id"], good)
	if code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	var res struct {
		Created  int
		Rejected []struct {
			Line   int
			Reason string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if res.Created != 2 || len(res.Rejected) != 2 || res.Rejected[0].Line != 3 || res.Rejected[1].Line != 4 {
		t.Fatalf("result = %+v", res)
	}
	// The malformed file changed nothing: importing good.csv again rejects
	// only on codes that good.csv itself created.
	out, _, _ = run("courses", "import", "--org", ids["organization_id"], good)
	json.Unmarshal([]byte(out), &res)
	if res.Created != 1 { // "First aid" has no code, so it is created again
		t.Fatalf("second import = %+v", res)
	}
	if _, errs, code := run("courses", "import", "--org", uuid.NewString(), good); code != 2 || !strings.Contains(errs, "no such organization") {
		t.Fatalf("unknown org: %d %s", code, errs)
	}
}

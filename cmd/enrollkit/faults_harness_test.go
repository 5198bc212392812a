//go:build faults

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// faultSecret is the ENROLLKIT_SECRET every fault server shares, so that a
// token one replica issued is good on the others.
const faultSecret = "fault-suite-secret-0123456789abcdef-0123456789"

// faultPassword passes the password policy, for managers and learners.
const faultPassword = "Learner-passphrase-1"

// faultEnv is what one scenario's servers share: the database, the data
// directory and the mail server, and any further ENROLLKIT_ settings.
type faultEnv struct {
	dbURL   string
	dataDir string
	smtpURL string
	extra   []string
}

// vars is the environment of an enrollkit process on e, listening on addr;
// nothing of the test's own environment leaks in but PATH and HOME.
func (e *faultEnv) vars(addr string) []string {
	v := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ENROLLKIT_ADDR=" + addr,
		"ENROLLKIT_METRICS_ADDR=off",
		"ENROLLKIT_DATABASE_URL=" + e.dbURL,
		"ENROLLKIT_DATA_DIR=" + e.dataDir,
		"ENROLLKIT_SECRET=" + faultSecret,
		"ENROLLKIT_LOG_FORMAT=json",
	}
	if e.smtpURL != "" {
		v = append(v, "ENROLLKIT_SMTP_URL="+e.smtpURL, "ENROLLKIT_SMTP_INSECURE=true")
	}
	return append(v, e.extra...)
}

// faultPostgres creates a database of its own for one scenario on the
// server of TEST_DATABASE_URL, dropped when the test ends, and returns its
// URL. Without TEST_DATABASE_URL the scenario is skipped.
func faultPostgres(t *testing.T, ctx context.Context) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set: this PostgreSQL fault scenario is SKIPPED (CI sets it)")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "faults_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	// Two CREATE DATABASE at once may find template1 busy for a moment.
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
		if err == nil || attempt == 5 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// faultSQL connects to a scenario's database for the checks.
func faultSQL(t *testing.T, ctx context.Context, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect for the checks: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// faultLog keeps the last part of a process's output, for failure reports.
type faultLog struct {
	mu  sync.Mutex
	buf []byte
}

const faultLogKeep = 64 << 10

func (l *faultLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - 2*faultLogKeep; over > 0 {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-faultLogKeep:]...)
	}
	return len(p), nil
}

// tail is the last n bytes written.
func (l *faultLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf[max(0, len(l.buf)-n):])
}

// faultServer is one running enrollkit serve.
type faultServer struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	addr string
	log  *faultLog
	done chan struct{}
	// err is cmd.Wait's, once done is closed.
	err error
}

// startServer runs enrollkit serve on e on a free loopback port and waits
// until it listens. It is killed when the test ends, if it has not ended.
func startServer(t *testing.T, ctx context.Context, name string, e *faultEnv) *faultServer {
	t.Helper()
	for attempt := 0; ; attempt++ {
		s, err := tryStartServer(t, ctx, name, e)
		if err == nil {
			return s
		}
		// Another process may have taken the free port in the meantime.
		if attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("start %s: %v", name, err)
		}
	}
}

func tryStartServer(t *testing.T, ctx context.Context, name string, e *faultEnv) (*faultServer, error) {
	addr := freeAddr(t)
	s := &faultServer{t: t, name: name, addr: addr, log: &faultLog{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Dir = e.dataDir
	s.cmd.Env = e.vars(addr)
	s.cmd.Stderr = s.log
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("%s (%s), the end of its output:\n%s", s.name, s.addr, s.log.tail(6<<10))
		}
	})
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Bytes()
			s.log.Write(line)
			s.log.Write([]byte{'\n'})
			var entry struct{ Msg string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "enrollkit listening" {
				once.Do(func() { close(listening) })
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case <-listening:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("exited before listening (%v): %s", s.err, s.log.tail(2<<10))
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("did not listen within 30s: %s", s.log.tail(2<<10))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// signal sends sig to the server. It may be called from any goroutine.
func (s *faultServer) signal(sig syscall.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("signal %s: %v", s.name, err)
	}
}

// kill9 kills the server at once, as a crashed host would.
func (s *faultServer) kill9() {
	s.signal(syscall.SIGKILL)
	<-s.done
}

// exited waits up to d for the server to end and returns its exit status,
// or -1 when it is still running.
func (s *faultServer) exited(d time.Duration) int {
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// url is the address of path on the server.
func (s *faultServer) url(path string) string { return "http://" + s.addr + path }

// runCLI runs an enrollkit subcommand on e and returns its standard output.
func runCLI(t *testing.T, ctx context.Context, e *faultEnv, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = e.dataDir
	cmd.Env = e.vars("127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("enrollkit %s: %v\n%s", strings.Join(args, " "), err, &stderr)
	}
	return out
}

// faultOrg is an organization made by `enrollkit org create`.
type faultOrg struct {
	OrganizationID      string `json:"organization_id"`
	OrganizationGroupID string `json:"organization_group_id"`
	ManagerID           string `json:"manager_id"`
	managerEmail        string
}

// mustCreateOrg creates an organization and its Full Manager on e's
// database through the command line, as an operator would.
func mustCreateOrg(t *testing.T, ctx context.Context, e *faultEnv, name string) *faultOrg {
	t.Helper()
	email := "owner@" + strings.ReplaceAll(strings.ToLower(name), " ", "-") + ".example"
	out := runCLI(t, ctx, e, "org", "create", "--name", name, "--manager-email", email, "--manager-password", faultPassword)
	org := &faultOrg{managerEmail: email}
	if err := json.Unmarshal(out, org); err != nil || org.OrganizationID == "" {
		t.Fatalf("org create printed %q: %v", out, err)
	}
	return org
}

// faultAnswer is the outcome of one HTTP request.
type faultAnswer struct {
	status  int
	header  http.Header
	body    []byte
	err     error
	elapsed time.Duration
	// wrote is true once the whole request was written to a connection:
	// from then on it is the server's to answer. wroteAt is when.
	wrote   bool
	wroteAt time.Time
}

// code is the problem code of a problem document.
func (a faultAnswer) code() string {
	var p struct{ Code string }
	json.Unmarshal(a.body, &p)
	return p.Code
}

// wellFormed tells whether a's answer is what the API promises for its
// status: a JSON body for a success, a problem document (with Retry-After
// on 429 and 503) for an error.
func (a faultAnswer) wellFormed() error {
	switch {
	case a.err != nil:
		return a.err
	case a.status < 400:
		if !json.Valid(a.body) {
			return fmt.Errorf("%d with a body that is not JSON: %.200q", a.status, a.body)
		}
		return nil
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fmt.Errorf("%d with Content-Type %q, not a problem document: %.200q", a.status, ct, a.body)
	}
	var p struct {
		Status int
		Code   string
	}
	if err := json.Unmarshal(a.body, &p); err != nil || p.Status != a.status || p.Code == "" {
		return fmt.Errorf("%d with a malformed problem document: %.200q", a.status, a.body)
	}
	if (a.status == 429 || a.status == 503) && a.header.Get("Retry-After") == "" {
		return fmt.Errorf("%d %s without Retry-After", a.status, p.Code)
	}
	return nil
}

// retryAfter is the Retry-After of a, at most limit.
func (a faultAnswer) retryAfter(limit time.Duration) time.Duration {
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		secs = 1
	}
	return min(time.Duration(secs)*time.Second, limit)
}

// faultClient calls one server's API, as a manager when token is set.
type faultClient struct {
	base  string
	token string
	http  *http.Client
}

// faultTransport is shared by the suite's clients; a burst opens as many
// connections as it has clients.
var faultTransport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second,
	DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}

func newClient(s *faultServer) *faultClient {
	return &faultClient{base: s.url(""), http: &http.Client{Transport: faultTransport, Timeout: 60 * time.Second}}
}

// as is c signed in with token.
func (c *faultClient) as(token string) *faultClient {
	cp := *c
	cp.token = token
	return &cp
}

// call sends one request; a nil body sends none.
func (c *faultClient) call(ctx context.Context, method, path string, body any) faultAnswer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return faultAnswer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	var a faultAnswer
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		a.wrote, a.wroteAt = info.Err == nil, time.Now()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, c.base+path, rd)
	if err != nil {
		return faultAnswer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	start := time.Now()
	res, err := c.http.Do(req)
	if err == nil {
		a.body, err = io.ReadAll(res.Body)
		res.Body.Close()
		a.status, a.header = res.StatusCode, res.Header
	}
	a.err, a.elapsed = err, time.Since(start)
	return a
}

// must sends one request that must succeed and decodes its answer into out.
func (c *faultClient) must(t *testing.T, ctx context.Context, method, path string, body, out any) {
	t.Helper()
	a := c.call(ctx, method, path, body)
	if a.err != nil {
		t.Fatalf("%s %s: %v", method, path, a.err)
	}
	if a.status >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, a.status, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, a.body)
		}
	}
}

// signIn signs the organization's Full Manager in and returns the client
// that acts as it.
func signIn(t *testing.T, ctx context.Context, c *faultClient, org *faultOrg) *faultClient {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.must(t, ctx, "POST", "/api/v1/auth/login", map[string]string{"email": org.managerEmail, "password": faultPassword,
		"organization_id": org.OrganizationID}, &tok)
	return c.as(tok.AccessToken)
}

// mustUserGroups makes n user groups named after tag in the organization
// group, each with its own two courses, and returns their IDs.
func mustUserGroups(t *testing.T, ctx context.Context, m *faultClient, org *faultOrg, tag string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		var g struct{ ID string }
		m.must(t, ctx, "POST", "/api/v1/user-groups", map[string]string{"name": fmt.Sprintf("%s group %d", tag, i+1),
			"organization_group_id": org.OrganizationGroupID}, &g)
		var courses []string
		for j := range 2 {
			var c struct{ ID string }
			m.must(t, ctx, "POST", "/api/v1/courses", map[string]string{"name": fmt.Sprintf("%s course %d.%d", tag, i+1, j+1)}, &c)
			courses = append(courses, c.ID)
		}
		m.must(t, ctx, "POST", "/api/v1/user-groups/"+g.ID+"/courses", map[string]any{"course_ids": courses}, nil)
		ids = append(ids, g.ID)
	}
	return ids
}

// faultInvitation is an active invitation.
type faultInvitation struct {
	ID       string `json:"id"`
	Passcode string `json:"passcode"`
}

// mustInvitation makes an active invitation of seats seats into groups;
// verify says whether new addresses must be verified first.
func mustInvitation(t *testing.T, ctx context.Context, m *faultClient, org *faultOrg, name string, seats int, groups []string, verify bool) *faultInvitation {
	t.Helper()
	var inv faultInvitation
	m.must(t, ctx, "POST", "/api/v1/invitations", map[string]any{"name": name, "max_registrations": seats,
		"organization_group_id": org.OrganizationGroupID, "user_group_ids": groups, "status": "active",
		"message": "Welcome aboard.", "require_email_verification": verify}, &inv)
	return &inv
}

// redeemBody is a new learner's redemption of passcode.
func redeemBody(passcode, email string) map[string]string {
	return map[string]string{"passcode": passcode, "email": email, "first_name": "Fault", "last_name": "Tester",
		"password": faultPassword}
}

// faultRedemption is where one learner's redemption ended.
type faultRedemption struct {
	email string
	// status is the last answer's, 0 when none came.
	status int
	code   string
	// busy counts the 503 answers that were retried.
	busy int
	// lost is the transport error that ended the attempt: the server went
	// away before answering.
	lost error
	// bad is an answer the API does not promise.
	bad error
}

// redeem redeems email through c, retrying busy answers (503) after their
// Retry-After, until a final answer, a transport error or ctx's end.
func redeem(ctx context.Context, c *faultClient, passcode, email string) faultRedemption {
	r := faultRedemption{email: email}
	for {
		a := c.call(ctx, "POST", "/api/v1/redemptions", redeemBody(passcode, email))
		if a.err != nil {
			r.lost = a.err
			return r
		}
		r.status, r.code = a.status, a.code()
		if err := a.wellFormed(); err != nil {
			r.bad = err
			return r
		}
		if a.status != http.StatusServiceUnavailable {
			return r
		}
		r.busy++
		// A little jitter, so that retries do not arrive as one wave.
		wait := time.Duration(float64(a.retryAfter(time.Second)) * (0.5 + mrand.Float64()/2))
		select {
		case <-ctx.Done():
			r.lost = ctx.Err()
			return r
		case <-time.After(wait):
		}
	}
}

// burst redeems n new addresses at once, "<prefix>-<i>@faults.example",
// the i-th through pick(i); answered is told of each final answer as it
// comes (it may stop the server under the burst).
func burst(ctx context.Context, n int, passcode, prefix string, pick func(i int) *faultClient, answered func(faultRedemption)) []faultRedemption {
	out := make([]faultRedemption, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			out[i] = redeem(ctx, pick(i), passcode, burstEmail(prefix, i))
			if answered != nil {
				answered(out[i])
			}
		}()
	}
	close(gate)
	wg.Wait()
	return out
}

// burstEmail is the i-th address of a burst. Only digits vary, so that no
// two addresses of a burst look alike (UTS #39) and get refused as such.
func burstEmail(prefix string, i int) string { return fmt.Sprintf("%s-%04d@faults.example", prefix, i) }

// tally counts final answers by status; lost ones under 0.
func tally(rs []faultRedemption) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		m[r.status]++
	}
	return m
}

// busyTotal is the number of 503 answers retried in rs.
func busyTotal(rs []faultRedemption) int {
	n := 0
	for _, r := range rs {
		n += r.busy
	}
	return n
}

// seatCheck is what the database says of one invitation's seats.
type seatCheck struct {
	max, used, redemptions, pending int
	// partial counts redemptions without their user, a membership in one
	// of the invitation's user groups or an enrollment in one of their
	// courses.
	partial int
	// orphans counts users of the burst's addresses, memberships of the
	// invitation's user groups and enrollments by the invitation that no
	// redemption accounts for.
	orphans int
}

func (c seatCheck) String() string {
	return fmt.Sprintf("%d/%d seats, %d redemptions + %d pending, %d partial, %d orphans",
		c.used, c.max, c.redemptions, c.pending, c.partial, c.orphans)
}

// problems lists the invariants c breaks.
func (c seatCheck) problems() []string {
	var out []string
	if c.used != c.redemptions+c.pending {
		out = append(out, fmt.Sprintf("registrations_used %d, but %d redemptions and %d pending", c.used, c.redemptions, c.pending))
	}
	if c.used > c.max {
		out = append(out, fmt.Sprintf("registrations_used %d exceeds max_registrations %d", c.used, c.max))
	}
	if c.partial > 0 {
		out = append(out, fmt.Sprintf("%d redemptions lack their user, a membership or an enrollment", c.partial))
	}
	if c.orphans > 0 {
		out = append(out, fmt.Sprintf("%d users, memberships or enrollments of the invitation have no redemption", c.orphans))
	}
	return out
}

// checkSeats reads the seat invariants of invitation id with SQL; emails
// is a LIKE pattern of the addresses that redeemed it.
func checkSeats(t *testing.T, ctx context.Context, db *pgx.Conn, id, emails string) seatCheck {
	t.Helper()
	var c seatCheck
	err := db.QueryRow(ctx, `
		SELECT i.max_registrations, i.registrations_used,
			(SELECT count(*) FROM redemptions r WHERE r.invitation_id = i.id),
			(SELECT count(*) FROM pending_redemptions p WHERE p.invitation_id = i.id),
			(SELECT count(*) FROM redemptions r WHERE r.invitation_id = i.id AND (
				NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id)
				OR EXISTS (SELECT 1 FROM invitation_user_groups ig WHERE ig.invitation_id = i.id
					AND NOT EXISTS (SELECT 1 FROM user_group_members m WHERE m.user_group_id = ig.user_group_id AND m.user_id = r.user_id))
				OR EXISTS (SELECT 1 FROM invitation_user_groups ig JOIN user_group_courses gc ON gc.user_group_id = ig.user_group_id
					WHERE ig.invitation_id = i.id
					AND NOT EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = r.user_id AND e.course_id = gc.course_id)))),
			(SELECT count(*) FROM users u WHERE u.email LIKE $2
				AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.user_id = u.id AND r.invitation_id = i.id))
			+ (SELECT count(*) FROM user_group_members m JOIN invitation_user_groups ig ON ig.user_group_id = m.user_group_id
				WHERE ig.invitation_id = i.id
				AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.user_id = m.user_id AND r.invitation_id = i.id))
			+ (SELECT count(*) FROM enrollments e WHERE e.invitation_id = i.id
				AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.user_id = e.user_id AND r.invitation_id = i.id))
		FROM invitations i WHERE i.id = $1`, id, emails).
		Scan(&c.max, &c.used, &c.redemptions, &c.pending, &c.partial, &c.orphans)
	if err != nil {
		t.Fatalf("check the seats of invitation %s: %v", id, err)
	}
	return c
}

// redeemedEmails is the set of addresses with a redemption of invitation id.
func redeemedEmails(t *testing.T, ctx context.Context, db *pgx.Conn, id string) map[string]bool {
	t.Helper()
	rows, err := db.Query(ctx, "SELECT email FROM redemptions WHERE invitation_id = $1", id)
	if err != nil {
		t.Fatal(err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range emails {
		out[e] = true
	}
	return out
}

// waitUntil polls cond every tick until it holds or ctx or d ends; it
// returns whether it held.
func waitUntil(ctx context.Context, d, tick time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(tick):
		}
	}
}

// seconds formats d as seconds with one decimal.
func seconds(d time.Duration) string {
	if d < 0 || d == math.MaxInt64 {
		return "never"
	}
	if d < time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

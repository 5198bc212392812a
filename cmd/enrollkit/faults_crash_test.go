//go:build faults

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// crashedBurst is a redemption burst during which a server was killed,
// finished on the servers left.
type crashedBurst struct {
	prefix string
	// first is each address's outcome under the kill, final its outcome
	// once the attempts the kill cut off were made again.
	first, final []faultRedemption
	killed       bool
	// lost counts the attempts the kill cut off; replayed those of them
	// whose redemption had been committed all the same (200 on retry).
	lost, replayed int
}

// crashBurst redeems n new addresses at once, the i-th through pick(i),
// calls kill once killAfter of them were answered 201, and then makes the
// attempts the kill cut off again through the picker resume returns (it
// may restart the server first), so that every address ends with an answer.
func crashBurst(ctx context.Context, n int, inv *faultInvitation, prefix string, pick func(int) *faultClient,
	killAfter int, kill func(), resume func() func(int) *faultClient) *crashedBurst {
	b := &crashedBurst{prefix: prefix}
	var created atomic.Int32
	var once sync.Once
	b.first = burst(ctx, n, inv.Passcode, prefix, pick, func(r faultRedemption) {
		if r.status == http.StatusCreated && int(created.Add(1)) == killAfter {
			once.Do(func() { b.killed = true; kill() })
		}
	})
	again := resume()
	b.final = append([]faultRedemption(nil), b.first...)
	var wg sync.WaitGroup
	for i, r := range b.first {
		if r.lost == nil {
			continue
		}
		b.lost++
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.final[i] = redeem(ctx, again(i), inv.Passcode, r.email)
		}()
	}
	wg.Wait()
	for i, r := range b.first {
		if r.lost != nil && b.final[i].status == http.StatusOK {
			b.replayed++
		}
	}
	return b
}

// busy counts the busy answers (503) retried, before and after the kill.
func (b *crashedBurst) busy() int {
	n := busyTotal(b.final)
	for _, r := range b.first {
		if r.lost != nil {
			n += r.busy
		}
	}
	return n
}

// check holds the burst to what the invitation promises, against the
// database: every address answered 201, 200 (a replay) or 409
// invitation_full; exactly the addresses answered 201 or 200 hold a
// redemption, each with its user, memberships and enrollments; no 201
// answered before the kill was lost; and exactly seats seats are taken.
func (b *crashedBurst) check(t *testing.T, ctx context.Context, db *pgx.Conn, inv *faultInvitation, seats int) seatCheck {
	t.Helper()
	if !b.killed {
		t.Errorf("%s: the burst ended before the kill", b.prefix)
	}
	redeemed := redeemedEmails(t, ctx, db, inv.ID)
	var problems []string
	for i, r := range b.final {
		first := b.first[i]
		switch {
		case first.bad != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", r.email, first.bad))
		case r.bad != nil:
			problems = append(problems, fmt.Sprintf("%s after the kill: %v", r.email, r.bad))
		case r.lost != nil:
			problems = append(problems, fmt.Sprintf("%s: no answer after the kill either: %v", r.email, r.lost))
		case r.status == http.StatusCreated || r.status == http.StatusOK:
			if !redeemed[r.email] {
				problems = append(problems, fmt.Sprintf("%s was answered %d but has no redemption", r.email, r.status))
			}
		case r.status == http.StatusConflict && r.code == "invitation_full":
			if redeemed[r.email] {
				problems = append(problems, fmt.Sprintf("%s was answered invitation_full but has a redemption", r.email))
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: answered %d %s", r.email, r.status, r.code))
		}
		if first.status == http.StatusCreated && !redeemed[r.email] {
			problems = append(problems, fmt.Sprintf("%s: the 201 answered before the kill was lost", r.email))
		}
	}
	answered := 0
	for _, r := range b.final {
		if r.status == http.StatusCreated || r.status == http.StatusOK {
			answered++
		}
	}
	if answered != len(redeemed) {
		problems = append(problems, fmt.Sprintf("%d addresses were answered as redeemed, %d redemptions exist", answered, len(redeemed)))
	}
	c := checkSeats(t, ctx, db, inv.ID, b.prefix+"-%")
	problems = append(problems, c.problems()...)
	if c.used != seats {
		problems = append(problems, fmt.Sprintf("%d of %d seats taken after every address was answered", c.used, seats))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%s: %d problems (%s):\n%s", b.prefix, len(problems), c, strings.Join(problems[:min(len(problems), 20)], "\n"))
	}
	return c
}

// testKill9Burst kills the server with SIGKILL in the middle of a burst of
// redemptions, restarts it on the same database, and checks seats and
// redemptions with SQL; three rounds.
func testKill9Burst(t *testing.T, ctx context.Context, sum *faultSummary) {
	dbURL := faultPostgres(t, ctx)
	mail := newFaultMail(t)
	mail.open(t)
	env := &faultEnv{dbURL: dbURL, dataDir: t.TempDir(), smtpURL: mail.url()}
	org := mustCreateOrg(t, ctx, env, "Kill Nine")
	db := faultSQL(t, ctx, dbURL)
	const rounds, clients, seats, killAfter = 3, 200, 50, 15
	srv := startServer(t, ctx, "server 1", env)
	var seatsFig, lostFig []string
	partial, orphans, busy := 0, 0, 0
	for round := 1; round <= rounds; round++ {
		tag := fmt.Sprintf("Round %d", round)
		m := signIn(t, ctx, newClient(srv), org)
		inv := mustInvitation(t, ctx, m, org, tag, seats, mustUserGroups(t, ctx, m, org, tag, 2), false)
		before := newClient(srv)
		b := crashBurst(ctx, clients, inv, fmt.Sprintf("kill9-r%d", round), func(int) *faultClient { return before },
			killAfter, srv.kill9, func() func(int) *faultClient {
				// The same database, a new process: what a supervisor does.
				srv = startServer(t, ctx, fmt.Sprintf("server %d", round+1), env)
				after := newClient(srv)
				return func(int) *faultClient { return after }
			})
		c := b.check(t, ctx, db, inv, seats)
		seatsFig = append(seatsFig, fmt.Sprintf("%d/%d", c.used, c.max))
		lostFig = append(lostFig, fmt.Sprintf("%d (%d committed)", b.lost, b.replayed))
		partial, orphans, busy = partial+c.partial, orphans+c.orphans, busy+b.busy()
		if t.Failed() {
			break
		}
	}
	sum.add("%d rounds of %d clients on %d seats, SIGKILL after %d created", len(seatsFig), clients, seats, killAfter)
	sum.add("seats %s", strings.Join(seatsFig, ", "))
	sum.add("%d partial, %d orphans", partial, orphans)
	sum.add("cut off by the kill %s", strings.Join(lostFig, ", "))
	sum.add("%d busy answers retried", busy)
}

// testSIGTERMInFlight stops the server with SIGTERM while a burst of
// redemptions is in flight: every request it had been sent is answered,
// the process exits 0, and no job of the queue is left running.
func testSIGTERMInFlight(t *testing.T, ctx context.Context, sum *faultSummary) {
	dbURL := faultPostgres(t, ctx)
	mail := newFaultMail(t)
	mail.open(t)
	// Each verification email takes a second to be accepted, so that the
	// workers are sending when the signal comes.
	mail.setHold(time.Second)
	// The server goes on serving, not ready, for as long as the requests
	// keep coming: none arrives at a closed listener or is queued
	// unaccepted when it closes.
	env := &faultEnv{dbURL: dbURL, dataDir: t.TempDir(), smtpURL: mail.url(), extra: []string{"ENROLLKIT_SHUTDOWN_DELAY=3s"}}
	org := mustCreateOrg(t, ctx, env, "Term Signal")
	db := faultSQL(t, ctx, dbURL)
	srv := startServer(t, ctx, "server", env)
	m := signIn(t, ctx, newClient(srv), org)
	// Addresses are verified: each redemption queues a verification email.
	inv := mustInvitation(t, ctx, m, org, "Signal", 80, mustUserGroups(t, ctx, m, org, "Signal", 1), true)

	// The requests arrive over three seconds; the signal comes once some
	// were answered and an email is being sent, so that requests, hashing
	// and the queue's workers are all in flight.
	const clients, spread, termAfter = 120, 3 * time.Second, 20
	// One connection per request: no request can be caught on an idle
	// keep-alive connection that the shutdown closes.
	c := newClient(srv)
	c.http = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 60 * time.Second}
	var answered atomic.Int32
	answers := make([]faultAnswer, clients)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			time.Sleep(spread * time.Duration(i) / clients)
			answers[i] = c.call(ctx, "POST", "/api/v1/redemptions", redeemBody(inv.Passcode, burstEmail("term", i)))
			if answers[i].err == nil {
				answered.Add(1)
			}
		}()
	}
	close(gate)
	var runningAtTerm, inDataAtTerm, answeredAtTerm int
	if !waitUntil(ctx, 20*time.Second, 5*time.Millisecond, func() bool {
		return answered.Load() >= termAfter && mail.sending() > 0
	}) {
		t.Fatalf("no email was being sent after %d answers", answered.Load())
	}
	termAt := time.Now()
	srv.signal(syscall.SIGTERM)
	answeredAtTerm, inDataAtTerm = int(answered.Load()), mail.sending()
	db.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&runningAtTerm)
	wg.Wait()
	code := srv.exited(45 * time.Second)
	exitAfter := time.Since(termAt)
	statuses := map[int]int{}
	sent, unsent, reset, malformed := 0, 0, 0, 0
	for i, a := range answers {
		switch {
		case a.err != nil && !a.wrote:
			unsent++ // refused: the server had stopped listening
			continue
		case a.err != nil:
			reset++
			t.Errorf("request %d, written %s the signal, got no answer: %v", i, relative(a.wroteAt, termAt), a.err)
		default:
			if err := a.wellFormed(); err != nil {
				malformed++
				t.Errorf("request %d: %v", i, err)
			} else if a.status >= 500 && a.status != http.StatusServiceUnavailable {
				malformed++
				t.Errorf("request %d answered %d: %s", i, a.status, a.body)
			}
			statuses[a.status]++
		}
		sent++
	}
	if code != 0 {
		t.Errorf("exit status after SIGTERM: %d (-1: still running after 45s)", code)
	}
	var running, left int
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'running'),
		count(*) FILTER (WHERE state IN ('available', 'scheduled', 'retryable')) FROM river_job`).Scan(&running, &left); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Errorf("%d River jobs left in state running after the server exited", running)
	}
	seats := checkSeats(t, ctx, db, inv.ID, "term-%")
	for _, p := range seats.problems() {
		t.Error(p)
	}
	if created := statuses[http.StatusCreated]; seats.used != created {
		t.Errorf("%d redemptions answered 201, %d seats taken", created, seats.used)
	}
	sum.add("SIGTERM after %d answers with %d emails in DATA", answeredAtTerm, inDataAtTerm)
	sum.add("%d sent (%d refused after the signal), %d answered %s, %d reset, %d malformed",
		sent, unsent, sent-reset, statusFigures(statuses), reset, malformed)
	sum.add("exit %d %s after SIGTERM", code, seconds(exitAfter))
	sum.add("River jobs running: %d at SIGTERM, %d after exit (%d queued for the next start)", runningAtTerm, running, left)
	sum.add("%d emails accepted", mail.total())
	sum.add("%s", seats)
}

// relative says when t was against ref: "1.2ms before" or "0.3ms after".
func relative(t, ref time.Time) string {
	if d := t.Sub(ref); d < 0 {
		return fmt.Sprintf("%s before", (-d).Round(10*time.Microsecond))
	} else {
		return fmt.Sprintf("%s after", d.Round(10*time.Microsecond))
	}
}

// statusFigures writes counts by status as "41×201 79×503".
func statusFigures(m map[int]int) string {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// faultRedisDB is the Redis database the replicas share; other tests use 0.
const faultRedisDB = 13

// testReplicas runs three servers on one database and one Redis: a burst
// spread over them sells exactly the seats, the wrong-passcode throttle
// counts across them, a send reaches each recipient once though every
// replica works the queue, and a replica killed in a burst loses nothing.
func testReplicas(t *testing.T, ctx context.Context, sum *faultSummary) {
	dbURL := faultPostgres(t, ctx)
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: faultRedisDB})
	t.Cleanup(func() { rc.Close() })
	if err := rc.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis not reachable at 127.0.0.1:6379: %v", err)
		}
		t.Skipf("Redis not reachable at 127.0.0.1:6379: the replica scenario is SKIPPED: %v", err)
	}
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.FlushDB(context.Background()) })
	mail := newFaultMail(t)
	mail.open(t)
	env := &faultEnv{dbURL: dbURL, dataDir: t.TempDir(), smtpURL: mail.url(),
		extra: []string{fmt.Sprintf("ENROLLKIT_REDIS_URL=redis://127.0.0.1:6379/%d", faultRedisDB), "ENROLLKIT_MAIL_ORG_RATE=100"}}
	org := mustCreateOrg(t, ctx, env, "Three Replicas")
	db := faultSQL(t, ctx, dbURL)
	var replicas [3]*faultServer
	var clients [3]*faultClient
	for i := range replicas {
		replicas[i] = startServer(t, ctx, fmt.Sprintf("replica %d", i+1), env)
		clients[i] = newClient(replicas[i])
	}
	// One sign-in serves all three: they share the secret.
	m := signIn(t, ctx, clients[0], org)
	roundRobin := func(i int) *faultClient { return clients[i%3] }

	// 300 at once against 50 seats.
	inv := mustInvitation(t, ctx, m, org, "Spread", 50, mustUserGroups(t, ctx, m, org, "Spread", 2), false)
	rs := burst(ctx, 300, inv.Passcode, "spread", roundRobin, nil)
	counts := tally(rs)
	for _, r := range rs {
		switch {
		case r.lost != nil || r.bad != nil:
			t.Errorf("%s: %v%v", r.email, r.lost, r.bad)
		case r.status == http.StatusConflict && r.code != "invitation_full":
			t.Errorf("%s: 409 %s, want invitation_full", r.email, r.code)
		}
	}
	if counts[http.StatusCreated] != 50 || counts[http.StatusConflict] != 250 {
		t.Errorf("300 redemptions over 3 replicas on 50 seats: %s, want 50×201 and 250×409", statusFigures(counts))
	}
	spread := checkSeats(t, ctx, db, inv.ID, "spread-%")
	for _, p := range spread.problems() {
		t.Error(p)
	}
	sum.add("300 over 3 replicas on 50 seats: %s after %d busy retries, %s", statusFigures(counts), busyTotal(rs), spread)

	// A send to 30 recipients, while every replica works the queue.
	send := mustInvitation(t, ctx, m, org, "Mailing", 30, mustUserGroups(t, ctx, m, org, "Mailing", 1), true)
	var recipients []string
	for i := range 30 {
		recipients = append(recipients, burstEmail("mailing", i))
	}
	m.must(t, ctx, "POST", "/api/v1/invitations/"+send.ID+"/deliveries", map[string]any{"recipients": recipients}, nil)
	sent := waitDeliveries(t, ctx, clients[1].as(m.token), send.ID, mail, recipients, 45*time.Second)
	time.Sleep(2 * time.Second) // a second copy would come now
	one, none, more := mail.each(recipients)
	if one != len(recipients) {
		t.Errorf("of %d recipients, %d got one email, %d none, %d more than one", len(recipients), one, none, more)
	}
	sum.add("a send to %d with 3 workers: %d got exactly one, %d none, %d more; %d/%d marked sent", len(recipients), one, none, more, sent, len(recipients))

	// A replica killed in the middle of a burst; the attempts it cut off
	// go to the other two.
	inv2 := mustInvitation(t, ctx, m, org, "Crash", 50, mustUserGroups(t, ctx, m, org, "Crash", 2), false)
	b := crashBurst(ctx, 200, inv2, "crash", roundRobin, 15, replicas[2].kill9, func() func(int) *faultClient {
		return func(i int) *faultClient { return clients[i%2] }
	})
	crash := b.check(t, ctx, db, inv2, 50)
	sum.add("replica 3 killed mid-burst: %s, %d cut off (%d committed)", crash, b.lost, b.replayed)

	// The killed replica is back; wrong passcodes, round robin over the
	// three, are counted once for all of them.
	replicas[2] = startServer(t, ctx, "replica 3, restarted", env)
	clients[2] = newClient(replicas[2])
	const guesses = 15
	var got []string
	wrong, refused := 0, 0
	for i := range guesses {
		a := roundRobin(i).call(ctx, "POST", "/api/v1/redemptions", redeemBody(fmt.Sprintf("QWXT-%04d", 1000+i), burstEmail("guess", i)))
		if err := a.wellFormed(); err != nil {
			t.Errorf("guess %d: %v", i, err)
		}
		got = append(got, fmt.Sprint(a.status))
		switch {
		case a.status == http.StatusNotFound && a.code() == "passcode_invalid":
			wrong++
		case a.status == http.StatusTooManyRequests:
			refused++
		}
	}
	limit := 10 // ENROLLKIT_REDEEM_IP_LIMIT's default
	if wrong != limit || refused != guesses-limit {
		t.Errorf("%d wrong passcodes round robin over 3 replicas: %s; want %d×404 then 429", guesses, strings.Join(got, " "), limit)
	}
	sum.add("%d wrong passcodes round robin: %d×404 then %d×429 (limit %d per address)", guesses, wrong, refused, limit)
}

// waitDeliveries waits until every recipient got an email and the
// invitation's deliveries are all sent, and returns how many are sent.
func waitDeliveries(t *testing.T, ctx context.Context, m *faultClient, invitation string, mail *faultMail, recipients []string, d time.Duration) int {
	t.Helper()
	sent := 0
	waitUntil(ctx, d, 250*time.Millisecond, func() bool {
		if _, none, _ := mail.each(recipients); none > 0 {
			return false
		}
		sent = deliveriesSent(t, ctx, m, invitation)
		return sent >= len(recipients)
	})
	sent = deliveriesSent(t, ctx, m, invitation)
	if sent != len(recipients) {
		t.Errorf("%d of %d deliveries reported sent", sent, len(recipients))
	}
	return sent
}

// deliveriesSent counts the invitation's deliveries reported sent.
func deliveriesSent(t *testing.T, ctx context.Context, m *faultClient, invitation string) int {
	return countDeliveries(t, ctx, m, invitation, func(d faultDelivery) bool { return d.Status == "sent" })
}

// faultDelivery is what the scenarios read of a delivery.
type faultDelivery struct {
	Recipient string
	Status    string
	Attempts  int
}

// countDeliveries counts the invitation's deliveries (its first 200) that
// match, or 0 when the list cannot be read.
func countDeliveries(t *testing.T, ctx context.Context, m *faultClient, invitation string, match func(faultDelivery) bool) int {
	t.Helper()
	var page struct{ Data []faultDelivery }
	a := m.call(ctx, "GET", "/api/v1/invitations/"+invitation+"/deliveries?limit=200", nil)
	if a.err != nil || a.status != http.StatusOK {
		return 0
	}
	if err := json.Unmarshal(a.body, &page); err != nil {
		t.Fatalf("deliveries: %v", err)
	}
	n := 0
	for _, d := range page.Data {
		if match(d) {
			n++
		}
	}
	return n
}

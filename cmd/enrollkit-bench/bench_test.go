package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

func TestBenchIDIsATimeOrderedUUID(t *testing.T) {
	prev := ""
	for i := range 2000 {
		id := benchID("course", i)
		if !lms.ValidID(id) || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("benchID(course, %d) = %q: not shaped like a UUIDv7", i, id)
		}
		if id <= prev {
			t.Fatalf("benchID(course, %d) = %q does not sort after %q", i, id, prev)
		}
		prev = id
	}
	if benchID("course", 1) == benchID("user", 1) {
		t.Fatal("rows of different kinds share an ID")
	}
	if largeGroupID() <= benchID("group", scales["large"].Groups) {
		t.Fatal("the large group must sort after every ordinary group")
	}
}

func TestScriptsAgreeWithWorkloads(t *testing.T) {
	if err := checkScripts(); err != nil {
		t.Fatal(err)
	}
	// Every script a workload names is embedded.
	sr := &scaleRun{}
	for _, w := range workloads {
		if w.refs == nil {
			continue
		}
		for _, spec := range w.refs(sr) {
			if _, err := pgbenchScripts.ReadFile("pgbench/" + spec.Script); err != nil {
				t.Errorf("%s: %v", w.Name, err)
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(i + 1)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := quantile(v, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestCPUOfStat(t *testing.T) {
	// A command name with spaces and parentheses, as /proc allows.
	stat := "42 (post (gres) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 1 0 100 1000 10"
	if got := cpuOfStat(stat, false); got != 3 {
		t.Errorf("utime+stime = %v s, want 3", got)
	}
	if got := cpuOfStat(stat, true); got != 3.5 {
		t.Errorf("with children = %v s, want 3.5", got)
	}
	if name, _ := commOf(stat); name != "post (gres) x" {
		t.Errorf("comm = %q", name)
	}
}

func TestFinishJudgesTargets(t *testing.T) {
	stats := func(rps, p50, p99 float64) *runStats {
		return &runStats{Throughput: rps, P50Ms: p50, P99Ms: p99, Requests: 10, OK: 10}
	}
	scale := func(name string, p50 float64) *scaleResult {
		return &scaleResult{Name: name, PeakRSSBytes: 50 << 20, Workloads: []*workloadResult{
			{Name: "list_user_groups", Read: true, Peak: stats(1000, 1, 2), Latency: stats(500, 1, 5),
				Light: stats(200, p50, 3), ReferenceRate: 1500, Ratio: 1000.0 / 1500},
			{Name: "redeem_hot", Checks: []check{{Name: name + "/redeem_hot/peak: exactly the seats succeed", Pass: true, exactSeats: true}}},
		}}
	}
	r := &results{Config: &config{}, Scales: []*scaleResult{scale("small", 1), scale("large", 1.5)}}
	r.finish()
	if !r.CorrectnessPass {
		t.Error("correctness should pass")
	}
	if r.TargetsPass {
		t.Error("a 1.5x growth should miss the 1.3x target")
	}
	i := slices.IndexFunc(r.Targets, func(t target) bool { return strings.Contains(t.Name, "growth") })
	if i < 0 || r.Targets[i].Pass || r.Targets[i].Value != 1.5 {
		t.Errorf("growth target: %+v", r.Targets)
	}
	if len(r.Growth) != 1 || r.Growth[0].Factor != 1.5 || r.Growth[0].HalfPeakFactor != 1 {
		t.Errorf("growth: %+v", r.Growth)
	}
	if i := slices.IndexFunc(r.Targets, func(t target) bool { return t.Name == "hot invitation: exactly the seats succeed" }); i < 0 ||
		!r.Targets[i].Judged || !r.Targets[i].Pass {
		t.Errorf("hot invitation target: %+v", r.Targets)
	}
	// The target holds only when both measurements meet it: a growth seen
	// at half of each peak alone misses it too.
	r = &results{Config: &config{}, Scales: []*scaleResult{scale("small", 1), scale("large", 1)}}
	r.Scales[1].Workloads[0].Latency = stats(500, 1.5, 5)
	r.finish()
	if i := slices.IndexFunc(r.Targets, func(t target) bool { return strings.Contains(t.Name, "growth") }); i < 0 ||
		r.Targets[i].Pass || r.Targets[i].Value != 1.5 {
		t.Errorf("growth at half of each peak alone: %+v", r.Targets)
	}
}

func TestFinishJudgesTheFloorsAndTheBurst(t *testing.T) {
	find := func(r *results, name string) target {
		t.Helper()
		i := slices.IndexFunc(r.Targets, func(t target) bool { return t.Name == name })
		if i < 0 {
			t.Fatalf("no target %q in %+v", name, r.Targets)
		}
		return r.Targets[i]
	}
	run := func(quick bool, count429 int) *results {
		list := &workloadResult{Name: "list_user_groups", Read: true,
			Peak: &runStats{Throughput: 850}, Latency: &runStats{P99Ms: 5, Rate: 425}, Floor: &runStats{Throughput: 1000},
			ReferenceRate: 2000, Ratio: 0.425}
		search := &workloadResult{Name: "search_courses", Read: true,
			Peak: &runStats{Throughput: 950}, Latency: &runStats{P99Ms: 5, Rate: 475}, Floor: &runStats{Throughput: 1000},
			ReferenceRate: 2000, Ratio: 0.475}
		redeem := &workloadResult{Name: "redeem_spread", Peak: &runStats{Throughput: 100}, PeakThroughput: 100,
			HashFloor: &hashFloor{Hashes: &hashRate{PerSecond: 105}}, ReferenceRate: 125, Ratio: 0.8}
		burst := &workloadResult{Name: "office_burst", Burst: &burstResult{Employees: 100, Count429: count429,
			Registered: 100 - count429, Redemptions: 100 - count429, AllRegistered: count429 == 0,
			RegistrationsUsed: 100 - count429, MaxRegistrations: 100}}
		r := &results{Config: &config{Quick: quick}, Scales: []*scaleResult{{Name: "small", PeakRSSBytes: 50 << 20,
			Workloads: []*workloadResult{list, search, redeem, burst}}}}
		r.finish()
		return r
	}

	r := run(false, 0)
	if f := find(r, "list_user_groups throughput / stack floor"); !f.Judged || f.Pass || f.Value != 0.85 {
		t.Errorf("0.85 of the floor should miss 0.9: %+v", f)
	}
	if f := find(r, "search_courses throughput / stack floor"); !f.Judged || !f.Pass {
		t.Errorf("0.95 of the floor should meet 0.9: %+v", f)
	}
	if f := find(r, "redemption throughput / hash floor"); !f.Judged || !f.Pass || f.Value < 0.95 || f.Value > 0.96 {
		t.Errorf("100 redemptions/s against a 105/s hash floor should meet 0.9: %+v", f)
	}
	// The first ratios are shown, never judged: 0.425 of pgbench
	// and 0.8 of the hash rate miss nothing.
	for _, name := range []string{"list_user_groups throughput / pgbench", "redemption throughput / hash rate"} {
		if f := find(r, name); f.Judged || !f.Info {
			t.Errorf("%s should be information: %+v", name, f)
		}
	}
	for _, name := range []string{"office burst: no answer 429", "office burst: every employee registered", "office burst: registrations_used equals the seats"} {
		if f := find(r, name); !f.Judged || !f.Pass {
			t.Errorf("%s: %+v", name, f)
		}
	}
	if r.TargetsPass {
		t.Error("the list's miss of its floor should fail the targets")
	}

	// The burst's figures are judged in -quick mode too, the timings not.
	r = run(true, 3)
	if f := find(r, "list_user_groups throughput / stack floor"); f.Judged {
		t.Errorf("quick mode judges no timing: %+v", f)
	}
	for _, name := range []string{"office burst: no answer 429", "office burst: every employee registered", "office burst: registrations_used equals the seats"} {
		if f := find(r, name); !f.Judged || f.Pass {
			t.Errorf("%s with three 429s should be judged and fail: %+v", name, f)
		}
	}
}

// TestWorkloadFields checks what the workloads' fields promise one another:
// the workload whose peak sizes the hot invitation runs before it, a hash
// floor names its target, a growth workload has a light rate, an office
// burst runs on its own server.
func TestWorkloadFields(t *testing.T) {
	sizers, hot := -1, -1
	for i, w := range workloads {
		if w.sizesHot {
			if sizers >= 0 {
				t.Errorf("%s and %s both size the hot invitation", workloads[sizers].Name, w.Name)
			}
			sizers = i
		}
		if w.Name == "redeem_hot" {
			hot = i
		}
		if w.hashFloor != nil && (w.hashTarget == "" || !w.Hashing) {
			t.Errorf("%s: a hash floor needs a hashing workload and a target name", w.Name)
		}
		if w.officeBurst && w.own == nil {
			t.Errorf("%s: an office burst runs on a server of its own", w.Name)
		}
	}
	if sizers < 0 || hot < 0 || sizers > hot {
		t.Errorf("the workload that sizes the hot invitation (%d) must run before it (%d)", sizers, hot)
	}
	if got := growthWorkloads(); !slices.Equal(got, []string{"list_user_groups", "search_courses", "get_invitation", "redeem_spread"}) {
		t.Errorf("growth workloads %v", got)
	}
}

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
			{Name: "redeem_hot", Checks: []check{{Name: name + "/redeem_hot/peak: exactly the seats succeed", Pass: true}}},
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

package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// runMode is how a run paces its requests.
type runMode struct {
	// Closed is a closed loop: Workers workers, each sending its next
	// request as soon as the previous one is answered. Otherwise Rate
	// requests per second are sent whatever the answers (an open loop, as
	// real users arrive), with as many workers as that takes.
	Closed  bool
	Workers int
	Rate    float64
	// Duration bounds the run; MaxHits, when not zero, ends it earlier
	// (a workload that consumes a finite pool: seats, courses).
	Duration time.Duration
	MaxHits  uint64
}

func (m runMode) String() string {
	if m.Closed {
		return fmt.Sprintf("closed loop, %d workers, %s", m.Workers, m.Duration)
	}
	return fmt.Sprintf("%.0f req/s for %s", m.Rate, m.Duration)
}

// runStats summarizes one run.
type runStats struct {
	Mode     string  `json:"mode"`
	Rate     float64 `json:"offered_rate,omitempty"`
	Requests int     `json:"requests"`
	// OK counts the answers the workload expects (for example 200, or
	// 201 and 409 on the hot invitation); Throughput is OK per second of
	// the run's wall time.
	OK         int            `json:"ok"`
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput"`
	P50Ms      float64        `json:"p50_ms"`
	P90Ms      float64        `json:"p90_ms"`
	P99Ms      float64        `json:"p99_ms"`
	MaxMs      float64        `json:"max_ms"`
	Codes      map[string]int `json:"codes"`
	// Unexpected holds a few unexpected answers, for diagnosis.
	Unexpected []string `json:"unexpected,omitempty"`
	// CPU is where the run's CPU time went; the per-request figures
	// divide it by the requests.
	CPU               *cpuUse `json:"cpu"`
	ServerCPUMsPerReq float64 `json:"server_cpu_ms_per_request"`
	PgCPUMsPerReq     float64 `json:"postgres_cpu_ms_per_request"`
}

// count returns how many answers had status code.
func (s *runStats) count(code int) int { return s.Codes[strconv.Itoa(code)] }

// cappedPacer paces like Pacer until MaxHits requests were sent.
type cappedPacer struct {
	vegeta.Pacer
	MaxHits uint64
}

func (p cappedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.MaxHits > 0 && hits >= p.MaxHits {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

// attack runs one load run of tr against the server and summarizes it.
// expect tells which status codes are a success for this workload.
// serverPID is the server's process, whose CPU time is recorded. A closed
// loop runs on closedLoop's lean client; a fixed rate on vegeta, whose
// pacing and open-loop timing are what that run is for.
func attack(ctx context.Context, name string, tr vegeta.Targeter, m runMode, expect func(int) bool, serverPID int) *runStats {
	st := &runStats{Mode: m.String(), Codes: map[string]int{}}
	if !m.Closed {
		st.Rate = m.Rate
	}
	lat := make([]float64, 0, 4096)
	var first, last time.Time
	record := func(h hit) {
		st.Requests++
		lat = append(lat, float64(h.Latency)/float64(time.Millisecond))
		if first.IsZero() || h.Start.Before(first) {
			first = h.Start
		}
		if end := h.Start.Add(h.Latency); end.After(last) {
			last = end
		}
		key := strconv.Itoa(h.Code)
		if h.Code == 0 {
			key = "error"
		}
		st.Codes[key]++
		if expect(h.Code) {
			st.OK++
		} else if len(st.Unexpected) < 5 {
			msg := h.Error
			if len(h.Body) > 0 {
				msg += " " + strings.TrimSpace(string(h.Body))
			}
			st.Unexpected = append(st.Unexpected, fmt.Sprintf("%s %s -> %s", h.Method, h.URL, msg))
		}
	}
	cpu0 := sampleCPU(serverPID)
	if m.Closed {
		closedLoop(ctx, tr, m, record)
	} else {
		// Per = 1s/rate keeps fractional rates exact enough.
		per := time.Duration(float64(time.Second) / m.Rate)
		atk := vegeta.NewAttacker(
			vegeta.Timeout(60*time.Second),
			vegeta.KeepAlive(true),
			vegeta.Redirects(vegeta.NoFollow),
			// Enough of a body to show why an unexpected answer happened;
			// the rest is read and discarded.
			vegeta.MaxBody(512),
			vegeta.Workers(uint64(max(m.Workers, 1))), vegeta.MaxWorkers(1024))
		stopped := context.AfterFunc(ctx, func() { atk.Stop() })
		pacer := cappedPacer{Pacer: vegeta.ConstantPacer{Freq: 1, Per: per}, MaxHits: m.MaxHits}
		for r := range atk.Attack(tr, pacer, m.Duration, name) {
			record(hit{Method: r.Method, URL: r.URL, Code: int(r.Code), Start: r.Timestamp, Latency: r.Latency,
				Body: r.Body, Error: r.Error})
		}
		stopped()
	}
	st.CPU = sampleCPU(serverPID).since(cpu0, -1)
	if st.Requests == 0 {
		return st
	}
	st.ServerCPUMsPerReq, st.PgCPUMsPerReq = perOp(st.CPU.Server, st.Requests), perOp(st.CPU.Postgres, st.Requests)
	st.Seconds = last.Sub(first).Seconds()
	if st.Seconds > 0 {
		st.Throughput = float64(st.OK) / st.Seconds
	}
	slices.Sort(lat)
	st.P50Ms, st.P90Ms, st.P99Ms = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
	st.MaxMs = lat[len(lat)-1]
	return st
}

// quantile returns the q-quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// expectCodes returns an expect function admitting exactly codes.
func expectCodes(codes ...int) func(int) bool {
	return func(c int) bool { return slices.Contains(codes, c) }
}

// jsonTarget fills t with a request carrying a JSON body and, when token
// is set, a bearer token. The header is built afresh: vegeta copies it into
// the request, but targets are made concurrently by several workers.
func jsonTarget(t *vegeta.Target, method, url, token string, body []byte) {
	h := http.Header{"Accept": {"application/json"}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	t.Method, t.URL, t.Body, t.Header = method, url, body, h
}

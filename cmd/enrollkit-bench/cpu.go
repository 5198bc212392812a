package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuSample is cumulative CPU time, in seconds, of the processes a run
// involves, read from /proc.
type cpuSample struct {
	at       time.Time
	server   float64 // the enrollkit process
	postgres float64 // every process named postgres (all backends)
	self     float64 // this process: the vegeta load generator
	busy     float64 // every CPU of the machine, not idle
}

// cpuUse is where a run's CPU time went, in seconds, and the machine's
// capacity over the same wall time. Other is CPU that none of the
// measured processes used: a high value means something else disturbed
// the run.
type cpuUse struct {
	Seconds   float64 `json:"wall_s"`
	Capacity  float64 `json:"capacity_s"`
	Server    float64 `json:"server_s"`
	Postgres  float64 `json:"postgres_s"`
	Generator float64 `json:"generator_s"`
	Other     float64 `json:"other_s"`
}

// sampleCPU reads the cumulative CPU times now. serverPID may be 0.
func sampleCPU(serverPID int) cpuSample {
	s := cpuSample{at: time.Now(), busy: machineBusy()}
	if serverPID > 0 {
		s.server = procCPU(serverPID)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if name, _ := commOf(string(b)); name == "postgres" {
			// With the children's times: a backend that exited (every
			// pgbench connection does) is added to the postmaster's.
			s.postgres += cpuOfStat(string(b), true)
		}
	}
	return s
}

// since is the CPU used between start and s. generator is the CPU of the
// load generator when it is not this process (pgbench), else negative.
func (s cpuSample) since(start cpuSample, generator float64) *cpuUse {
	u := &cpuUse{Seconds: s.at.Sub(start.at).Seconds(), Server: s.server - start.server,
		Postgres: s.postgres - start.postgres, Generator: s.self - start.self}
	if generator >= 0 {
		u.Generator = generator
	}
	u.Capacity = u.Seconds * float64(runtime.NumCPU())
	u.Other = max(0, (s.busy-start.busy)-u.Server-u.Postgres-u.Generator)
	return u
}

// procCPU is the user+system CPU seconds of pid, 0 if it cannot be read.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return cpuOfStat(string(b), false)
}

// commOf returns the command name of a /proc/<pid>/stat line and the
// fields after it.
func commOf(stat string) (string, []string) {
	open, close := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || close < open {
		return "", nil
	}
	return stat[open+1 : close], strings.Fields(stat[close+1:])
}

// cpuOfStat is utime+stime of a /proc/<pid>/stat line, in seconds, plus
// cutime+cstime (the children it waited for) when children is set.
func cpuOfStat(stat string, children bool) float64 {
	_, f := commOf(stat)
	// After the command: state(0) ppid … utime(11) stime(12) cutime(13)
	// cstime(14).
	if len(f) < 15 {
		return 0
	}
	last := 12
	if children {
		last = 14
	}
	var sum float64
	for _, v := range f[11 : last+1] {
		n, _ := strconv.ParseFloat(v, 64)
		sum += n
	}
	return sum / clockTicks
}

// machineBusy is the non-idle CPU seconds of all CPUs since boot, from the
// first line of /proc/stat.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clockTicks
}

// perOp is CPU milliseconds per operation.
func perOp(seconds float64, ops int) float64 {
	if ops == 0 {
		return 0
	}
	return seconds * 1000 / float64(ops)
}

// disturbedShare is the share of the machine's CPU used by processes the
// benchmark does not know about above which a run is flagged as disturbed.
const disturbedShare = 0.10

// idleCheck returns the share of the machine's CPU that was busy during d.
func idleCheck(d time.Duration) float64 {
	b0, t0 := machineBusy(), time.Now()
	time.Sleep(d)
	return (machineBusy() - b0) / (time.Since(t0).Seconds() * float64(runtime.NumCPU()))
}

// disturbed reports whether processes other than the server, PostgreSQL
// and the load generator used a noticeable share of the machine.
func (u *cpuUse) disturbed() bool {
	return u != nil && u.Capacity > 0 && u.Other/u.Capacity > disturbedShare
}

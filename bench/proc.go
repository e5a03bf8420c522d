package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc (100 on every Linux the bench runs on).
const clockTicks = 100

// cpuReading is the CPU time used so far, in seconds: by the server under test, by every PostgreSQL
// process, by the bench itself (the load client, its SMTP server) and by the whole machine.
type cpuReading struct {
	at                            time.Time
	server, postgres, bench, busy float64
}

// readCPU reads the CPU times of /proc; server is the process under test.
func readCPU(server int) cpuReading {
	r := cpuReading{at: time.Now(), server: procCPU(server), bench: procCPU(os.Getpid())}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == "postgres" {
				r.postgres += procCPU(pid)
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		for i, f := range strings.Fields(line)[1:] {
			if n, err := strconv.ParseFloat(f, 64); err == nil && i != 3 && i != 4 && i < 8 { // not idle, iowait, guest
				r.busy += n / clockTicks
			}
		}
	}
	return r
}

// procCPU is a process's user + system time in seconds (its exited children not included); 0 when gone.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:] // the fields after "pid (comm) ", starting with the state (field 3)
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64) // field 14
	stime, _ := strconv.ParseFloat(f[12], 64) // field 15
	return (utime + stime) / clockTicks
}

// cpuUse is the cores each part kept busy between two readings.
type cpuUse struct{ server, postgres, bench, busy float64 }

func (a cpuReading) to(b cpuReading) cpuUse {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return cpuUse{}
	}
	return cpuUse{server: (b.server - a.server) / d, postgres: (b.postgres - a.postgres) / d, bench: (b.bench - a.bench) / d,
		busy: (b.busy - a.busy) / d}
}

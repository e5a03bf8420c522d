package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process: the service, or the bare Fiber baseline.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startProc(path string, args, env []string, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Ctrl-C reaches only the bench, which then stops the child itself; a killed bench takes the child along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitHTTP polls url until the process answers with any HTTP status.
func (p *proc) waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before answering: %v\n%s", p.cmd.Path, p.err, tail(p.log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("%s did not answer within %s\n%s", p.cmd.Path, limit, tail(p.log))
}

// stop sends SIGTERM, waits for a graceful exit and kills the process after 40 s.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return fmt.Errorf("exited early: %v", p.err)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("did not stop within 40 s after SIGTERM; killed")
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

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

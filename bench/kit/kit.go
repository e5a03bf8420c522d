// Package kit is what the benchmarks of bench/ and bench/peer share: the servers they measure as child
// processes (the service with the bench's configuration, its build, its database), the load loop and its
// statistics, upload rounds, the seeded data's vehicle types and companies, and the client calls both make.
// It is a module of its own with the standard library only, so that bench/peer (its own module, with
// PocketBase) can use it without taking in the service's dependencies, nor the service PocketBase's.
package kit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a child process: the service, PocketBase, or the bare Fiber baseline.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// StartProc starts path with args and env (added to this process's), its output going to logPath.
func StartProc(path string, args, env []string, logPath string) (*Proc, error) {
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
	p := &Proc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *Proc) PID() int { return p.cmd.Process.Pid }

// LogPath is the file the process writes its output to.
func (p *Proc) LogPath() string { return p.log }

// Wait waits for the process to exit and returns how it ended.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// WaitHTTP polls url until the process answers with any HTTP status.
func (p *Proc) WaitHTTP(ctx context.Context, url string, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before answering: %v\n%s", p.cmd.Path, p.err, Tail(p.log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("%s did not answer within %s\n%s", p.cmd.Path, limit, Tail(p.log))
}

// Stop sends SIGTERM, waits for a graceful exit and kills the process after 40 s.
func (p *Proc) Stop() error {
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

// Tail is the last 3,000 bytes of the file at path.
func Tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// FreePort is a TCP port on 127.0.0.1 free at the moment.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

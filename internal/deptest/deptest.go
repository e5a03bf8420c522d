// Package deptest starts private PostgreSQL and MinIO servers for tests that must hang, stop or
// restart a dependency (SIGSTOP, SIGCONT): never the shared ones. Each server has its own data
// directory and a random loopback port, and is stopped and removed at cleanup. Tests skip with the
// reason when the binaries are absent (and fail with CI set: see testenv).
package deptest

import (
	"context"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/testenv"
)

// Server is one private server process.
type Server struct {
	URL  string // postgres://… or s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false
	Addr string // 127.0.0.1:port
	Dir  string // MinIO: its data directory
	cmd  *exec.Cmd
}

// Hang stops the server and every process it started (SIGSTOP): PostgreSQL's backends call setsid,
// so they are found by parent pid. Connections stay open and new ones are accepted by the kernel,
// but nothing answers — the fault deadlines exist for.
func (s *Server) Hang(t testing.TB) {
	t.Helper()
	for _, pid := range s.pids() {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
	}
}

// Resume continues a hung server (SIGCONT). Safe to call when it is not hung.
func (s *Server) Resume() {
	for _, pid := range s.pids() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

// pids is the server's pid and its descendants', the server first.
func (s *Server) pids() []int {
	root := s.cmd.Process.Pid
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil {
			parent[pid] = ppid
		}
	}
	out := []int{root}
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// privateDir makes a directory the server's user owns; removed at cleanup.
func privateDir(t testing.TB, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fl-deptest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (s *Server) stopAtCleanup(t testing.TB) {
	t.Cleanup(func() {
		s.Resume()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	})
}

// waitUp polls ready until it holds (the server answers) or 30 s pass.
func waitUp(t testing.TB, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within 30 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postgresBin finds Debian's PostgreSQL binaries (/usr/lib/postgresql/N/bin), newest first.
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return dirs[i] > dirs[j] })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// Postgres starts a private PostgreSQL (initdb, then postgres itself, so its pid can be stopped),
// run as the postgres user when the test runs as root.
func Postgres(t testing.TB) *Server {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		testenv.Missing(t, "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql): hang test skipped")
	}
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "running as root and there is no postgres user to run a private PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir := privateDir(t, cred)
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100", "-c", "shared_buffers=16MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd,
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	s.stopAtCleanup(t)
	waitUp(t, "private PostgreSQL", func() bool {
		out, err := exec.Command(filepath.Join(bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(port)).CombinedOutput()
		_ = out
		return err == nil
	})
	return s
}

// minioBin is the MinIO server start-services.sh installs into $(go env GOPATH)/bin, or one on PATH.
func minioBin() string {
	if p := filepath.Join(build.Default.GOPATH, "bin", "minio"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// MinIO starts a private MinIO server; its URL names bucket.
func MinIO(t testing.TB, bucket string) *Server {
	t.Helper()
	bin := minioBin()
	if bin == "" {
		testenv.Missing(t, "minio binary not found in $(go env GOPATH)/bin or PATH (installed by start-services.sh): hang test skipped")
	}
	dir := privateDir(t, nil)
	port, console := freePort(t), freePort(t)
	const user, pass = "deptest-user", "deptest-password-1234"
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"), "--quiet",
		"--address", fmt.Sprintf("127.0.0.1:%d", port), "--console-address", fmt.Sprintf("127.0.0.1:%d", console))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+pass, "MINIO_BROWSER=off")
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start minio: %v", err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, Dir: filepath.Join(dir, "data"),
		URL: fmt.Sprintf("s3://%s:%s@127.0.0.1:%d/%s?secure=false", user, pass, port, bucket)}
	s.stopAtCleanup(t)
	client := &http.Client{Timeout: time.Second}
	waitUp(t, "private MinIO", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+"/minio/health/live", nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return s
}

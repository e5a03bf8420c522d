package main

// Issue 12, part A, against the real binary: memory of the `serve` process under the gzip bomb and under
// parallel unauthenticated 1C uploads, read from /proc (peak RSS, reset before each attack).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

const memoryBound = 32 << 20 // what an attack may add to the process's peak RSS

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// serveBinary builds the command once per test run.
func serveBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "forteleasing-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "forteleasing")
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", binaryPath, ".").CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// server is a running `forteleasing serve --demo`.
type server struct {
	addr string
	pid  int
	log  string
}

func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads the process's memory from /proc")
	}
	bin := serveBinary(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--demo")
	cmd.Env = append(os.Environ(), "FL_DATA_DIR="+filepath.Join(dir, "data"), "FL_ADDR="+addr, "FL_ADMIN_ADDR=off",
		"FL_DATABASE_URL=", "FL_MEDIA_URL=", "FL_MAIL_URL=", "FL_LOG_LEVEL=warn",
		"FL_ONEC_USER="+apptest.OneCUser, "FL_ONEC_PASSWORD="+apptest.OneCPass, "FL_JWT_SECRET="+apptest.JWTSecret)
	cmd.Env = append(cmd.Env, env...)
	logPath := filepath.Join(dir, "service.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	s := &server{addr: addr, pid: cmd.Process.Pid, log: logPath}
	apptest.EventuallyWithin(t, 90*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "serve --demo ready (log: %s)", logPath)
	return s
}

// status reads a kB figure (VmRSS, VmHWM) of the process from /proc, in bytes.
func (s *server) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, s.pid)
	return 0
}

// peakGrowth runs attack and returns how far the process's peak RSS rose above its RSS before it.
// The kernel's high-water mark is reset first (clear_refs 5), so a short spike is seen too.
func (s *server) peakGrowth(t *testing.T, attack func()) int64 {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.pid), []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS of the server (%v): memory bound not measurable here", err)
	}
	before := s.status(t, "VmRSS")
	attack()
	return s.status(t, "VmHWM") - before
}

// gzipBomb is 256 MiB of zeros compressed three times over: a few hundred bytes on the wire.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	w1, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	w2, _ := gzip.NewWriterLevel(w1, gzip.BestCompression)
	w3, _ := gzip.NewWriterLevel(w2, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 256; i++ {
		if _, err := w3.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*gzip.Writer{w3, w2, w1} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func TestServe_GzipBombIsRefusedWithoutDecoding(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs the binary")
	}
	s := startServer(t)
	bomb := gzipBomb(t)
	t.Logf("bomb: %d bytes on the wire, 256 MiB decoded", len(bomb))
	post := func() error {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/biin/"+apptest.DemoBIN, bytes.NewReader(bomb))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip, gzip, gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 415 || !bytes.Contains(b, []byte(`"error":"unsupported_encoding"`)) {
			return fmt.Errorf("bomb answered %d %s", resp.StatusCode, b)
		}
		return nil
	}
	for _, parallel := range []int{1, 8} {
		grew := s.peakGrowth(t, func() {
			errs := make(chan error, parallel)
			for i := 0; i < parallel; i++ {
				go func() { errs <- post() }()
			}
			for i := 0; i < parallel; i++ {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
		t.Logf("%d bomb(s) in parallel: peak RSS +%.1f MiB", parallel, float64(grew)/(1<<20))
		if grew >= memoryBound {
			t.Errorf("%d bomb(s) raised the peak RSS by %.1f MiB, bound %d MiB", parallel, float64(grew)/(1<<20), memoryBound>>20)
		}
	}
}

func TestServe_ParallelUnauthenticatedOneCUploadsStayOutOfMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs the binary")
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			env := []string{"FL_ONEC_AUTH_FAILURES=1000"}
			if dialect == "postgres" {
				env = append(env, "FL_DATABASE_URL="+dbtest.PostgresURL(t))
			}
			s := startServer(t, env...)
			const parallel, size = 12, 31 << 20
			grew := s.peakGrowth(t, func() {
				var wg sync.WaitGroup
				for i := 0; i < parallel; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						if code, err := sendWhole(s.addr, size, i); err != nil || code != 401 {
							t.Errorf("upload %d: %d %v, want 401", i, code, err)
						}
					}(i)
				}
				wg.Wait()
			})
			t.Logf("%d × %d MiB with wrong credentials: peak RSS +%.1f MiB", parallel, size>>20, float64(grew)/(1<<20))
			if grew >= memoryBound {
				t.Errorf("peak RSS rose by %.1f MiB, bound %d MiB", float64(grew)/(1<<20), memoryBound>>20)
			}
		})
	}
}

// sendWhole PUTs a batch of size bytes with wrong credentials, as fast as the server takes it, while
// reading the answer; it returns the status. The server may close the connection before the body ends.
func sendWhole(addr string, size, i int) (int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(apptest.OneCUser+":"+fmt.Sprintf("wrong-%d", i)))
	head := fmt.Sprintf("PUT /1c/companies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", auth, size)
	go func() {
		if _, err := io.WriteString(conn, head+"["); err != nil {
			return
		}
		chunk := bytes.Repeat([]byte(" "), 256<<10)
		for sent := 1; sent < size; sent += len(chunk) {
			if _, err := conn.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
				return // closed by the server after its answer
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
)

// TestReadme_OneCExamplesWorkAsWritten runs the curl examples of README's "Bodies as 1C sends them"
// section, as written, against `serve --demo` of the built binary, and checks every answer the README
// shows (the "# {...}" lines; "..." stands for the parts it leaves out).
func TestReadme_OneCExamplesWorkAsWritten(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "iconv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs curl): README example test skipped", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Bodies as 1C sends them")
	if !ok {
		t.Fatal("README has no section \"Bodies as 1C sends them\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, script, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("the section has no sh example")
	}
	script, _, _ = strings.Cut(script, "```")

	dir := t.TempDir()
	bin := filepath.Join(dir, "forteleasing")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.CommandContext(ctx, bin, "serve", "--demo")
	srv.Dir = dir
	srv.Env = append(os.Environ(), "FL_DATA_DIR="+filepath.Join(dir, "data"), "FL_ADDR="+addr, "FL_ADMIN_ADDR=off",
		"FL_DATABASE_URL=", "FL_MEDIA_URL=", "FL_MAIL_URL=", "FL_ONEC_USER=", "FL_ONEC_PASSWORD=", "FL_ENV=")
	logFile, _ := os.Create(filepath.Join(dir, "service.log"))
	defer logFile.Close()
	srv.Stdout, srv.Stderr = logFile, logFile
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }()
	apptest.EventuallyWithin(t, 60*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "serve --demo did not become ready (log in %s)", filepath.Join(dir, "service.log"))

	run := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.ReplaceAll(script, "localhost:8080", addr))
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's commands failed: %v\n%s", err, out)
	}
	got := string(out)
	checked := 0
	for _, line := range strings.Split(script, "\n") {
		want, ok := strings.CutPrefix(strings.TrimSpace(line), "# {")
		if !ok {
			continue
		}
		checked++
		rest := got
		for _, piece := range strings.Split("{"+want, "...") {
			i := strings.Index(rest, piece)
			if i < 0 {
				t.Errorf("the README shows %s\nbut the answers were:\n%s", line, got)
				break
			}
			rest = rest[i+len(piece):]
		}
		// Answers come in the README's order: look for the next one after this one.
		if i := strings.Index(got, strings.Split("{"+want, "...")[0]); i >= 0 {
			got = got[i+1:]
		}
	}
	if checked < 5 {
		t.Fatalf("only %d answers shown in the README's examples", checked)
	}
}

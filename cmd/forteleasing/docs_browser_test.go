package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apidocs"
	"github.com/forteleasing/inspections/internal/testenv"
	"github.com/forteleasing/inspections/internal/wait"
)

// TestDocs_BrowserShowsEveryEndpoint builds the service, runs `serve --demo` as a newcomer would, opens
// /docs in headless Chromium (Debian's chromium package; .ci/run installs it), checks the rendered DOM
// lists every operation and keeps a screenshot in $FL_TEST_ARTIFACTS (default: the test's temp dir).
func TestDocs_BrowserShowsEveryEndpoint(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does): browser test skipped")
	}
	if testing.Short() {
		t.Skip("-short: browser test skipped")
	}
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
	srv.Env = append(os.Environ(), "FL_DATA_DIR="+filepath.Join(dir, "data"), "FL_ADDR="+addr, "FL_ADMIN_ADDR=off",
		"FL_DATABASE_URL=", "FL_MEDIA_URL=", "FL_MAIL_URL=")
	log, _ := os.Create(filepath.Join(dir, "service.log"))
	defer log.Close()
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }()
	base := "http://" + addr
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "service.log"))
			t.Logf("service log:\n%s", b)
		}
	})
	wait.Within(t, 60*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "serve --demo did not become ready")

	chrome := func(args ...string) []byte {
		t.Helper()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync"}, args...)
		return testenv.Chromium(ctx, t, browser, args...)
	}
	dom := string(chrome("--dump-dom", base+"/docs"))
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(apidocs.Spec(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			n++
			want := fmt.Sprintf(`<span class="m %s">%s</span><span class="path">%s</span>`, method, strings.ToUpper(method), path)
			if !strings.Contains(dom, want) {
				t.Errorf("the page in the browser does not list %s %s", strings.ToUpper(method), path)
			}
		}
	}

	artifacts := os.Getenv("FL_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, _ := filepath.Abs(filepath.Join(artifacts, "docs.png"))
	chrome("--screenshot="+shot, "--window-size=1280,2200", "--hide-scrollbars", base+"/docs")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// A blank page is one colour: count the distinct colours in a sample.
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colours) < 8 {
		t.Fatalf("the screenshot looks blank (%d colours)", len(colours))
	}
	t.Logf("%d operations listed; screenshot %s (%dx%d)", n, shot, b.Dx(), b.Dy())
}

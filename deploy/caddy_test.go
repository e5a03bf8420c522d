package deploy

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCaddy_ServesTheDeploymentOverHTTPSWithReachableVideos runs deploy/Caddyfile itself with Debian's
// Caddy, on loopback ports with the name localhost (for which Caddy issues a certificate from its own CA,
// where production gets one from an ACME CA): the built binary behind it, MinIO's bucket published
// through it, and a client that trusts only Caddy's CA.
func TestCaddy_ServesTheDeploymentOverHTTPSWithReachableVideos(t *testing.T) {
	caddyBin := needTool(t, "caddy")
	video := testVideo(t)
	dbURL, _ := testDatabase(t)
	bucketURL := testBucket(t)
	store, _ := url.Parse(bucketURL)
	httpPort, httpsPort := freePort(t), freePort(t)
	public := fmt.Sprintf("https://localhost:%d", httpsPort)
	outbox := t.TempDir()

	env := baseEnv(dbURL, bucketURL, public, outbox)
	maps.Copy(env, map[string]string{"FL_MEDIA_PUBLIC_URL": public, "FL_PROXY_HEADER": "X-Forwarded-For", "FL_TRUSTED_PROXIES": "127.0.0.1/32"})
	in := newInstance(t, "a", env)
	in.start()
	in.ready()
	demo := newInstance(t, "demo", maps.Clone(env))
	demo.run("demo")
	if err := demo.wait(time.Minute); err != nil {
		t.Fatalf("forteleasing demo: %v\n%s", err, demo.logTail())
	}

	data := t.TempDir()
	caddy := exec.Command(caddyBin, "run", "--config", "Caddyfile", "--adapter", "caddyfile")
	caddy.Env = []string{
		"HOME=" + t.TempDir(), "XDG_DATA_HOME=" + data, "XDG_CONFIG_HOME=" + t.TempDir(),
		"CADDY_ADMIN=off", fmt.Sprintf("CADDY_HTTP_PORT=%d", httpPort), fmt.Sprintf("CADDY_HTTPS_PORT=%d", httpsPort),
		"FL_PUBLIC_HOST=localhost", "FL_UPSTREAM_NAME=127.0.0.1", fmt.Sprintf("FL_UPSTREAM_PORT=%d", in.port),
		"FL_MEDIA_UPSTREAM=" + store.Host, "FL_MEDIA_BUCKET=" + strings.Trim(store.Path, "/"),
	}
	var caddyLog bytes.Buffer
	caddy.Stdout, caddy.Stderr = &caddyLog, &caddyLog
	if err := caddy.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = caddy.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = caddy.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("--- caddy log ---\n%s", tail(caddyLog.Bytes(), 4000))
		}
	})

	// The client trusts Caddy's root and nothing else, so every answer below came over verified TLS.
	rootPath := filepath.Join(data, "caddy", "pki", "authorities", "local", "root.crt")
	var roots *x509.CertPool
	eventually(t, 30*time.Second, "Caddy's CA and certificate for localhost", func() bool {
		select {
		case <-exited:
			t.Fatalf("caddy exited:\n%s", caddyLog.Bytes())
		default:
		}
		pem, err := os.ReadFile(rootPath)
		if err != nil {
			return false
		}
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		resp, err := hc.Get(public + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	hc := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	// Plain HTTP is redirected to HTTPS, path and query kept. (Caddy 2.6 leaves the HTTPS port out of
	// the redirect, which is right in production where it is 443.)
	resp, err := hc.Get(fmt.Sprintf("http://localhost:%d/reports/general/filter?limit=5", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusPermanentRedirect || loc == nil || loc.Scheme != "https" || loc.Hostname() != "localhost" ||
		loc.RequestURI() != "/reports/general/filter?limit=5" {
		t.Fatalf("plain HTTP answered %s, Location %q; want a permanent redirect to HTTPS", resp.Status, resp.Header.Get("Location"))
	}

	// The mobile flow over HTTPS, and an upload of a real video.
	c := &client{t: t, base: public, outbox: outbox, http: hc}
	tk, _ := c.login(demoBIN, director("caddy-dir-1"))
	if sel := c.must(http.MethodGet, "/reports/vehicle/select/"+demoVehicle, nil, bearer(tk.access)...); !strings.Contains(string(sel.raw), `"image_path":"`+public+`/images/`) {
		t.Errorf("links the service hands out do not use the public HTTPS address: %d %s", sel.code, tail(sel.raw, 600))
	}
	refs := c.newTasks("caddy", 1)
	if a, err := c.upload(tk.access, refs[0], "k-caddy", video); err != nil || a.code != 201 {
		t.Fatalf("upload through Caddy: %v %d %s", err, a.code, a.raw)
	}

	// 1C reads the feed and opens the video from outside, through Caddy, with the presigned link.
	feed := c.must(http.MethodGet, "/1c/reports?status=2&limit=100", nil, onec()...)
	var videoURL, sum string
	for _, it := range feed.data()["reports"].([]any) {
		item := it.(map[string]any)
		if item["ref_key"] == refs[0] {
			up := item["upload"].(map[string]any)
			videoURL, sum = up["video_url"].(string), up["sha256"].(string)
		}
	}
	if !strings.HasPrefix(videoURL, public+"/"+strings.Trim(store.Path, "/")+"/") {
		t.Fatalf("video_url %q is not on the public address %s", videoURL, public)
	}
	want := sha256.Sum256(video)
	if sum != hex.EncodeToString(want[:]) {
		t.Fatalf("feed sha256 %s, the video's is %x", sum, want)
	}
	resp, err = hc.Get(videoURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, video) {
		t.Fatalf("GET video_url through Caddy: %s, %d bytes of %d", resp.Status, len(got), len(video))
	}
	req, _ := http.NewRequest(http.MethodGet, videoURL, nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, video[1000:2000]) {
		t.Fatalf("a player's Range request: %s, %d bytes", resp.Status, len(got))
	}

	// The bucket is published read-only: the S3 API's writes stay inside.
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPost} {
		req, _ := http.NewRequest(method, videoURL, strings.NewReader("x"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s on the published bucket: %s, want 405", method, resp.Status)
		}
	}
	resp, err = hc.Get(videoURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the video after the refused writes: %s", resp.Status)
	}
}

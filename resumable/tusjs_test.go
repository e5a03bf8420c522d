package resumable_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/testenv"
)

// tusJS finds node and the tus-js-client package .ci/run installs (npm install --prefix .ci/node
// tus-js-client), or skips saying why.
func tusJS(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed (apt-get install nodejs npm; .ci/run does): the tus-js-client test is skipped")
	}
	modules, _ = filepath.Abs(filepath.Join("..", ".ci", "node", "node_modules"))
	if _, err := os.Stat(filepath.Join(modules, "tus-js-client")); err != nil {
		testenv.Missing(t, "tus-js-client is not installed (npm install --prefix .ci/node tus-js-client; .ci/run does): test skipped")
	}
	return node, modules
}

type tusJSResult struct {
	OK       bool   `json:"ok"`
	URL      string `json:"url"`
	Error    string `json:"error"`
	Requests int    `json:"requests"`
	Retries  int    `json:"retries"`
	MS       int64  `json:"ms"`
}

// runTusJS uploads file through endpoint with tus-js-client in chunks of chunk bytes.
func runTusJS(t *testing.T, base, endpoint, file string, chunk int, login apptest.Answer, timeout time.Duration) tusJSResult {
	t.Helper()
	node, modules := tusJS(t)
	meta, _ := json.Marshal(tusFields(taskRef))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "tusjs-upload.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "TUS_ENDPOINT="+endpoint, "TUS_FILE="+file, "TUS_CHUNK="+strconv.Itoa(chunk),
		"TUS_METADATA="+string(meta), "TUS_ACCESS="+login.Str("access_token"), "TUS_REFRESH="+login.Str("refresh_token"), "TUS_BASE="+base)
	out, err := cmd.Output()
	var res tusJSResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("tus-js-client: %v %v\n%s\n%s", err, jerr, out, stderr)
	}
	if !res.OK {
		t.Fatalf("tus-js-client failed: %s (%d requests, %d retries)", res.Error, res.Requests, res.Retries)
	}
	return res
}

// listenFirst takes a loopback port before the app is built, so FL_PUBLIC_URL (and so every Location
// header) can name it.
func listenFirst(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

func serveOn(t *testing.T, ta *apptest.App, ln net.Listener) {
	go func() { _ = ta.HTTP.Listener(ln) }()
	t.Cleanup(func() { _ = ta.HTTP.Shutdown() })
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inspection.mp4")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tus-js-client, a client no one here wrote, uploads a 16 MiB video in 4 MiB chunks.
func TestTusJS_UploadsInChunks(t *testing.T) {
	tusJS(t)
	for _, store := range []string{"disk", "minio"} {
		t.Run(store, func(t *testing.T) {
			ln, base := listenFirst(t)
			env := []string{"FL_PUBLIC_URL", base}
			if store == "minio" {
				env = append(env, "FL_MEDIA_URL", apptest.BucketURL(t))
			}
			ta := apptest.New(t, "", env...)
			serveOn(t, ta, ln)
			video := realVideo(t, 16<<20)
			res := runTusJS(t, base, base+"/reports/uploads", writeTemp(t, video), 4<<20, ta.Login(apptest.DemoBIN, apptest.Director("tusjs")), 2*time.Minute)
			t.Logf("tus-js-client: %d requests, %d retries, %d ms", res.Requests, res.Retries, res.MS)
			if s := reportStatus(t, ta, taskRef); s != 2 {
				t.Fatalf("report status %d", s)
			}
			assertStored(t, ta, video)
			if res.Requests < 5 { // POST and four PATCHes at least
				t.Fatalf("%d requests for four chunks", res.Requests)
			}
		})
	}
}

// The "done when" of resumable uploads: tus-js-client sends a 64 MiB video over a link of ~2 Mbit/s
// that drops every 3 MiB, on MinIO, and the report reaches status 2. About five minutes, so it runs
// when FL_TUS_LONG is set (the README has its figures).
func TestTusJS_64MiBOverABadLinkOnMinIO(t *testing.T) {
	if os.Getenv("FL_TUS_LONG") == "" {
		t.Skip("five minutes of throttled upload: set FL_TUS_LONG=1 to run it")
	}
	tusJS(t)
	link := startBadLink(t, "", 256<<10, 3<<20)
	ta := apptest.New(t, "", "FL_PUBLIC_URL", link.URL(), "FL_MEDIA_URL", apptest.BucketURL(t))
	link.target = ta.Listen()[len("http://"):]
	video := realVideo(t, 64<<20)
	start := time.Now()
	res := runTusJS(t, link.URL(), link.URL()+"/reports/uploads", writeTemp(t, video), 8<<20, ta.Login(apptest.DemoBIN, apptest.Director("tusjs-long")), 15*time.Minute)
	elapsed := time.Since(start)
	if s := reportStatus(t, ta, taskRef); s != 2 {
		t.Fatalf("report status %d", s)
	}
	assertStored(t, ta, video)
	sent := link.sent.Load()
	t.Logf("64 MiB over 2 Mbit/s cut every 3 MiB: %s, %d cuts, %d requests, %d retries, sent %.3f× the video (%.2f Mbit/s of video)",
		elapsed.Round(time.Second), link.cuts.Load(), res.Requests, res.Retries, float64(sent)/float64(len(video)),
		float64(len(video))*8/elapsed.Seconds()/1e6)
}

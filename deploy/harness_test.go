package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
	"github.com/forteleasing/inspections/internal/testenv"
	"github.com/forteleasing/inspections/internal/wait"
)

// The demo data the instances load (onec/demo.go) and the credentials every instance shares.
const (
	demoBIN     = "200940026146"
	demoVehicle = "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028" // plate 123456789
	demoPlate   = "123456789"
	demoVIN     = "XWW212140K2365328"
	carType     = "b71e9ff8-1664-11ea-8dad-1831bf7dd029"
	jwtSecret   = "scaleout-secret-scaleout-secret-scaleout"
	onecUser    = "onec-scaleout"
	onecPass    = "onec-scaleout-password"
)

var (
	binDir  string
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "forteleasing-deploy-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// serviceBinary builds ./cmd/forteleasing once per test run: the tests here run the real binary.
func serviceBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "forteleasing")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/forteleasing/inspections/cmd/forteleasing").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/forteleasing: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, "%s is not installed (apt-get install -y %s; .ci/run installs it)", name, name)
	}
	return p
}

// eventually polls cond until it holds, failing after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.Within(t, timeout, cond, "waiting for %s", what)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testBucket returns FL_TEST_S3_URL pointed at a new bucket, emptied and removed at cleanup.
func testBucket(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("FL_TEST_S3_URL")
	if raw == "" {
		testenv.Missing(t, "FL_TEST_S3_URL is not set: the deployment tests need MinIO (bash .ci/run starts it)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal("FL_TEST_S3_URL is not a URL")
	}
	u.Path = "/fl-deploy-" + randomHex(6)
	t.Cleanup(func() { removeBucket(u) })
	return u.String()
}

func minioClient(u *url.URL) (*minio.Client, string, error) {
	secret, _ := u.User.Password()
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(u.User.Username(), secret, ""), Secure: u.Query().Get("secure") == "true"})
	return c, strings.Trim(u.Path, "/"), err
}

func removeBucket(u *url.URL) {
	c, bucket, err := minioClient(u)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = c.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true})
}

// testDatabase is a URL of an empty schema of its own on FL_TEST_POSTGRES_URL, with a connection to it.
func testDatabase(t *testing.T) (string, *database.DB) {
	t.Helper()
	dbURL := dbtest.PostgresURL(t)
	db, err := database.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dbURL, db
}

// instance is one forteleasing process, restartable, logging to one file across its lives.
type instance struct {
	t    *testing.T
	name string
	port int
	env  []string
	logf *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newInstance(t *testing.T, name string, env map[string]string) *instance {
	t.Helper()
	in := &instance{t: t, name: name, port: freePort(t)}
	env["FL_ADDR"] = fmt.Sprintf("127.0.0.1:%d", in.port)
	env["FL_DATA_DIR"] = filepath.Join(t.TempDir(), name)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.env = append(in.env, k+"="+env[k])
	}
	in.env = append(in.env, "PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(), "TMPDIR="+t.TempDir())
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	in.logf = f
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("--- log of instance %s (last 4000 bytes) ---\n%s", name, tail(b, 4000))
		}
		f.Close()
	})
	return in
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (in *instance) url() string { return fmt.Sprintf("http://127.0.0.1:%d", in.port) }

// run starts the binary with args and returns at once.
func (in *instance) run(args ...string) {
	in.t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	cmd := exec.Command(serviceBinary(in.t), args...)
	cmd.Env = in.env
	cmd.Stdout, cmd.Stderr = in.logf, in.logf
	if err := cmd.Start(); err != nil {
		in.t.Fatalf("start %s: %v", in.name, err)
	}
	done := make(chan struct{})
	in.cmd, in.done = cmd, done
	go func() {
		err := cmd.Wait()
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
		close(done)
	}()
}

func (in *instance) start() { in.run("serve") }

// ready waits until the instance answers /readyz with 200.
func (in *instance) ready() {
	in.t.Helper()
	client := &http.Client{Timeout: time.Second}
	eventually(in.t, 90*time.Second, in.name+" to be ready", func() bool {
		select {
		case <-in.exited():
			in.t.Fatalf("instance %s exited: %v\n%s", in.name, in.exitErr(), in.logTail())
		default:
		}
		resp, err := client.Get(in.url() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (in *instance) logTail() []byte {
	b, _ := os.ReadFile(in.logf.Name())
	return tail(b, 3000)
}

func (in *instance) exited() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.done
}

func (in *instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

func (in *instance) pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cmd.Process.Pid
}

func (in *instance) signal(sig os.Signal) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil && in.cmd.Process != nil {
		_ = in.cmd.Process.Signal(sig)
	}
}

// kill ends the process at once (SIGKILL: a crash) and waits for it.
func (in *instance) kill() {
	done := in.exited()
	if done == nil {
		return
	}
	in.signal(syscall.SIGKILL)
	<-done
}

// wait waits for the process to exit by itself and returns how it ended.
func (in *instance) wait(timeout time.Duration) error {
	in.t.Helper()
	select {
	case <-in.exited():
		return in.exitErr()
	case <-time.After(timeout):
		in.t.Fatalf("instance %s still running after %s", in.name, timeout)
		return nil
	}
}

// baseEnv is what every instance of one deployment shares.
func baseEnv(dbURL, mediaURL, publicURL, outbox string) map[string]string {
	return map[string]string{
		"FL_DATABASE_URL": dbURL, "FL_MEDIA_URL": mediaURL, "FL_PUBLIC_URL": publicURL,
		"FL_MAIL_URL": "file://" + outbox, "FL_JWT_SECRET": jwtSecret,
		"FL_ONEC_USER": onecUser, "FL_ONEC_PASSWORD": onecPass, "FL_ADMIN_ADDR": "off", "FL_LOG_LEVEL": "warn",
		// The tests upload many videos at once as one director; the per-user cap is not what they test.
		"FL_UPLOAD_CONCURRENCY_PER_USER": "32",
	}
}

// client talks to one address (an instance or the load balancer) the way the apps do.
type client struct {
	t      *testing.T
	base   string
	outbox string
	http   *http.Client
}

type answer struct {
	code     int
	raw      []byte
	body     map[string]any
	hdr      http.Header
	servedBy string
}

func (a answer) data() map[string]any { d, _ := a.body["data"].(map[string]any); return d }
func (a answer) str(k string) string  { s, _ := a.data()[k].(string); return s }

func (c *client) do(method, path string, body io.Reader, headers ...string) (answer, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return answer{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{code: resp.StatusCode, raw: raw, hdr: resp.Header, servedBy: resp.Header.Get("X-Served-By")}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			return a, fmt.Errorf("%s %s: bad JSON %s", method, path, raw)
		}
	}
	return a, nil
}

// must is do that fails the test on a transport error.
func (c *client) must(method, path string, body io.Reader, headers ...string) answer {
	c.t.Helper()
	a, err := c.do(method, path, body, headers...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (c *client) json(method, path string, v any, headers ...string) answer {
	c.t.Helper()
	b, _ := json.Marshal(v)
	return c.must(method, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, headers...)...)
}

func onec() []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":"+onecPass))}
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

var otpLine = regexp.MustCompile(`OTP: (\d+)`)

// requestOTP asks for a code and returns it, read from the e-mail the answering instance wrote.
func (c *client) requestOTP(biin string, body map[string]any, headers ...string) (answer, string) {
	c.t.Helper()
	before := mails(c.outbox)
	a := c.json(http.MethodPost, "/biin/"+biin, body, headers...)
	if a.code != 200 {
		return a, ""
	}
	var code string
	eventually(c.t, 10*time.Second, "the OTP e-mail", func() bool {
		for f := range mails(c.outbox) {
			if before[f] {
				continue
			}
			b, _ := os.ReadFile(f)
			if m := otpLine.FindSubmatch(b); m != nil {
				code = string(m[1])
				return true
			}
		}
		return false
	})
	return a, code
}

func mails(dir string) map[string]bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	m := map[string]bool{}
	for _, f := range files {
		m[f] = true
	}
	return m
}

func basicLogin(biin, device, otp string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(biin+"-"+device+":"+otp))}
}

type tokens struct{ access, refresh string }

func tokensOf(t *testing.T, a answer) tokens {
	t.Helper()
	tk := tokens{a.str("access_token"), a.str("refresh_token")}
	if a.code != 200 || tk.access == "" || tk.refresh == "" {
		t.Fatalf("no token pair in %d %s", a.code, a.raw)
	}
	return tk
}

// login runs OTP → /auth, both through the given headers (e.g. pinned to one instance).
func (c *client) login(biin string, body map[string]any, headers ...string) (tokens, answer) {
	c.t.Helper()
	a, otp := c.requestOTP(biin, body, headers...)
	if a.code != 200 {
		c.t.Fatalf("OTP: %d %s", a.code, a.raw)
	}
	auth := c.must(http.MethodPost, "/auth", nil, append(basicLogin(biin, body["uuid"].(string), otp), headers...)...)
	return tokensOf(c.t, auth), auth
}

func director(device string) map[string]any {
	return map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}
}

func employee(device, mobile, name string) map[string]any {
	return map[string]any{"role_id": 2, "uuid": device, "FCM": "fcm-" + device, "mobile": mobile, "first_name": name}
}

// newTasks creates n reports waiting for a video (status 1) on the demo company's vehicle.
func (c *client) newTasks(prefix string, n int) []string {
	c.t.Helper()
	var items []any
	var refs []string
	for i := 0; i < n; i++ {
		ref := fmt.Sprintf("%s-%03d", prefix, i)
		refs = append(refs, ref)
		items = append(items, map[string]any{"ref_key": ref, "report_number": ref, "vehicle_guid": demoVehicle,
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1})
	}
	if a := c.json(http.MethodPut, "/1c/reports", items, onec()...); a.code != 200 {
		c.t.Fatalf("PUT /1c/reports: %d %s", a.code, a.raw)
	}
	return refs
}

func uploadBody(ref string, video []byte) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range [][2]string{{"ref_key", ref}, {"time_sent", "2026-03-03 10:15:00"}, {"lat", "43.238949"}, {"long", "76.889709"}, {"odometer", "120345"}} {
		_ = w.WriteField(f[0], f[1])
	}
	fw, _ := w.CreateFormFile("file", "video.mp4")
	_, _ = fw.Write(video)
	w.Close()
	return &buf, w.FormDataContentType()
}

// upload sends one plain upload; the error is a transport failure (connection cut, instance gone).
func (c *client) upload(token, ref, key string, video []byte, headers ...string) (answer, error) {
	body, ct := uploadBody(ref, video)
	h := append(bearer(token), "Content-Type", ct)
	if key != "" {
		h = append(h, "Idempotency-Key", key)
	}
	return c.do(http.MethodPost, "/reports/upload", body, append(h, headers...)...)
}

var (
	videoOnce sync.Once
	videoMP4  []byte
	videoErr  error
)

// testVideo is a real MP4 made by ffmpeg: two seconds of its test pattern, 320×240, H.264, with noise so
// that it is large enough (about 1 MB) to be caught halfway.
func testVideo(t *testing.T) []byte {
	t.Helper()
	ffmpeg := needTool(t, "ffmpeg")
	videoOnce.Do(func() {
		out := filepath.Join(binDir, "test.mp4")
		cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
			"-t", "2", "-vf", "noise=alls=30:allf=t", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			videoErr = fmt.Errorf("ffmpeg: %v\n%s", err, b)
			return
		}
		videoMP4, videoErr = os.ReadFile(out)
	})
	if videoErr != nil {
		t.Fatal(videoErr)
	}
	return videoMP4
}

func count(t *testing.T, db *database.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, db.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

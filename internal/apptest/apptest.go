// Package apptest builds the wired service for tests: SQLite always, PostgreSQL and MinIO when
// FL_TEST_POSTGRES_URL and FL_TEST_S3_URL are set, with the seed's demo company loaded; plus the
// login helpers and Eventually. Feature tests use it through the HTTP app, as a client would.
package apptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database/dbtest"
	"github.com/forteleasing/inspections/internal/testenv"
)

// The seed's demo company (a BIN and an IIN), its vehicles and the test credentials.
const (
	DemoBIN    = "200940026146"
	DemoIIN    = "790920300817"
	OneCUser   = "onec-test"
	OneCPass   = "onec-test-password"
	CarType    = "b71e9ff8-1664-11ea-8dad-1831bf7dd029"
	BINVehicle = "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028"
	IINVehicle = "6b5c250a-3d2d-11ea-8db2-1831bf7dd028"
	JWTSecret  = "e2e-secret-e2e-secret-e2e-secret-e2e"
)

// S3URLEnv names the variable that points tests at a MinIO (or another S3).
const S3URLEnv = "FL_TEST_S3_URL"

// App is the fully wired service on a temp data dir, with the demo data loaded and its workers running.
type App struct {
	*app.App
	T    testing.TB
	Dir  string        // FL_DATA_DIR: the e-mail outbox and the disk media store live here
	Logs *bytes.Buffer // the service's JSON log
}

// EachDialect runs fn on SQLite and, when FL_TEST_POSTGRES_URL is set, on PostgreSQL.
func EachDialect(t *testing.T, fn func(t *testing.T, a *App)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, New(t, "")) })
	t.Run("postgres", func(t *testing.T) { fn(t, New(t, dbtest.PostgresURL(t))) })
}

// EachDatabase runs fn with the URL of a fresh SQLite file and, when FL_TEST_POSTGRES_URL is set, a
// fresh PostgreSQL schema: for tests that open several apps on one database (a restart).
func EachDatabase(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite://"+filepath.Join(t.TempDir(), "test.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, dbtest.PostgresURL(t)) })
}

// EachStore runs fn with the disk media store and, when FL_TEST_S3_URL is set, a fresh MinIO bucket.
func EachStore(t *testing.T, fn func(t *testing.T, a *App), env ...string) {
	t.Run("disk", func(t *testing.T) { fn(t, New(t, "", env...)) })
	t.Run("minio", func(t *testing.T) {
		fn(t, New(t, "", append([]string{"FL_MEDIA_URL", BucketURL(t)}, env...)...))
	})
}

// BucketURL points at a bucket of the test's own on the MinIO of FL_TEST_S3_URL; it skips without it.
func BucketURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(S3URLEnv)
	if raw == "" {
		testenv.Missing(t, "%s is not set: MinIO tests skipped (bash .ci/run starts MinIO)", S3URLEnv)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	u.Path = "/fl-test-" + hex.EncodeToString(b)
	return u.String()
}

// New builds the app on dbURL ("" is SQLite in the data dir); env is pairs of FL_* names and values.
func New(t testing.TB, dbURL string, env ...string) *App {
	t.Helper()
	return NewWith(t, dbURL, app.Deps{}, env...)
}

// Config is the configuration New uses, for tests that open the app themselves.
func Config(t testing.TB, dir, dbURL string, env ...string) config.Config {
	t.Helper()
	vars := map[string]string{
		"FL_DATA_DIR": dir, "FL_JWT_SECRET": JWTSecret, "FL_ONEC_USER": OneCUser, "FL_ONEC_PASSWORD": OneCPass,
		"FL_PUBLIC_URL": "https://api.example.kz", "FL_OTP_COOLDOWN": "1ms",
	}
	if dbURL != "" {
		vars["FL_DATABASE_URL"] = dbURL
	}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// NewWith is New with some outside parts replaced (a local FCM, quicker retries).
func NewWith(t testing.TB, dbURL string, d app.Deps, env ...string) *App {
	t.Helper()
	a := NewStopped(t, dbURL, d, env...)
	if err := a.Jobs.Start(context.Background()); err != nil {
		t.Fatalf("jobs: %v", err)
	}
	return a
}

// NewStopped is NewWith with the workers not started: jobs queue until the test calls a.Jobs.Start
// (a restart, a dependency hung before the first try).
func NewStopped(t testing.TB, dbURL string, d app.Deps, env ...string) *App {
	t.Helper()
	dir := t.TempDir()
	cfg := Config(t, dir, dbURL, env...)
	logs := &bytes.Buffer{}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), d)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(a.Close)
	if err := a.OneC.LoadDemo(context.Background()); err != nil {
		t.Fatalf("demo: %v", err)
	}
	return &App{App: a, T: t, Dir: dir, Logs: logs}
}

// Listen serves the app on a loopback port for tests that need a real connection; it returns the base URL.
func (a *App) Listen() string {
	a.T.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.T.Fatal(err)
	}
	go func() { _ = a.HTTP.Listener(a.App.Listener(ln)) }()
	a.T.Cleanup(func() { _ = a.HTTP.Shutdown() })
	return "http://" + ln.Addr().String()
}

// Answer is one response, its envelope decoded when it is JSON.
type Answer struct {
	Code   int
	Raw    []byte
	Body   map[string]any
	Header http.Header
}

// Data is the envelope's data object.
func (a Answer) Data() map[string]any { d, _ := a.Body["data"].(map[string]any); return d }

// Str is a string field of data.
func (a Answer) Str(k string) string { s, _ := a.Data()[k].(string); return s }

// Do sends a request through app.Test; headers are name, value pairs. A JSON answer must be an
// envelope whose data.code is the status.
func (a *App) Do(method, path string, body io.Reader, headers ...string) Answer {
	a.T.Helper()
	r := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.HTTP.Test(r, -1)
	if err != nil {
		a.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ans := Answer{Code: resp.StatusCode, Raw: raw, Header: resp.Header}
	plain := raw
	if resp.Header.Get("Content-Encoding") == "gzip" { // Raw keeps what was sent; Body is decoded
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			a.T.Fatalf("%s %s: bad gzip: %v", method, path, err)
		}
		zr.Multistream(false) // one member, as strict decoders (Okio's GzipSource) want
		if plain, err = io.ReadAll(zr); err != nil {
			a.T.Fatalf("%s %s: bad gzip: %v", method, path, err)
		}
	}
	if ct := resp.Header.Get("Content-Type"); len(ct) >= 16 && ct[:16] == "application/json" && method != http.MethodHead {
		if err := json.Unmarshal(plain, &ans.Body); err != nil {
			a.T.Fatalf("%s %s: bad JSON %s", method, path, raw)
		}
		if c, _ := ans.Data()["code"].(float64); int(c) != resp.StatusCode {
			a.T.Fatalf("%s %s: data.code %v but status %d", method, path, ans.Data()["code"], resp.StatusCode)
		}
	}
	return ans
}

// JSON sends v as a JSON body.
func (a *App) JSON(method, path string, v any, headers ...string) Answer {
	b, _ := json.Marshal(v)
	return a.Do(method, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, headers...)...)
}

// Get sends a GET with a bearer token.
func (a *App) Get(path, token string) Answer {
	return a.Do(http.MethodGet, path, nil, "Authorization", "Bearer "+token)
}

var otpLine = regexp.MustCompile(`OTP: (\d+)`)

// LastOTP reads the newest e-mail the file transport wrote, as a newcomer would.
func (a *App) LastOTP() string {
	a.T.Helper()
	files, _ := filepath.Glob(filepath.Join(a.Dir, "outbox", "*.eml"))
	sort.Strings(files)
	if len(files) == 0 {
		a.T.Fatal("no e-mail in the outbox")
	}
	b, _ := os.ReadFile(files[len(files)-1])
	m := otpLine.FindSubmatch(b)
	if m == nil {
		a.T.Fatalf("no OTP in %s", b)
	}
	return string(m[1])
}

// Login runs OTP → /auth with body (Director or Employee) and returns the /auth answer.
func (a *App) Login(biin string, body map[string]any) Answer {
	a.T.Helper()
	if ans := a.JSON(http.MethodPost, "/biin/"+biin, body); ans.Code != 200 {
		a.T.Fatalf("OTP: %d %s", ans.Code, ans.Raw)
	}
	cred := base64.StdEncoding.EncodeToString([]byte(biin + "-" + body["uuid"].(string) + ":" + a.LastOTP()))
	ans := a.Do(http.MethodPost, "/auth", nil, "Authorization", "Basic "+cred)
	if ans.Code != 200 {
		a.T.Fatalf("login: %d %s", ans.Code, ans.Raw)
	}
	return ans
}

// Token logs in and returns the access token.
func (a *App) Token(biin string, body map[string]any) string {
	a.T.Helper()
	return a.Login(biin, body).Str("access_token")
}

// Director is the OTP request body of the company's director on device.
func Director(device string) map[string]any {
	return map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}
}

// Employee is the OTP request body of an employee on device.
func Employee(device, mobile, name string) map[string]any {
	return map[string]any{"role_id": 2, "uuid": device, "FCM": "fcm-" + device, "mobile": mobile, "first_name": name}
}

// OneCAuth is the Authorization header pair of the 1C credentials.
func OneCAuth() []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(OneCUser+":"+OneCPass))}
}

// WantStatus fails unless the answer has status and, when errCode is not empty, that error code.
func WantStatus(t testing.TB, a Answer, status int, errCode string) {
	t.Helper()
	if a.Code != status {
		t.Fatalf("want %d, got %d %s", status, a.Code, a.Raw)
	}
	if errCode != "" && a.Str("error") != errCode {
		t.Fatalf("want error %q, got %s", errCode, a.Raw)
	}
}

// Count runs a query that selects one integer (a count, a status) on the app's database.
func Count(t testing.TB, a *App, q string, args ...any) int {
	t.Helper()
	var n int
	if err := a.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

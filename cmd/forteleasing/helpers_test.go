package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

const (
	demoBIN     = "200940026146"
	demoIIN     = "790920300817"
	onecUser    = "onec-test"
	onecPass    = "onec-test-password"
	carType     = "b71e9ff8-1664-11ea-8dad-1831bf7dd029"
	binVehicle  = "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028"
	iinVehicle  = "6b5c250a-3d2d-11ea-8db2-1831bf7dd028"
	secretForIT = "e2e-secret-e2e-secret-e2e-secret-e2e"
)

// testApp is the fully wired service on a temp data dir, with the demo data loaded.
type testApp struct {
	t    testing.TB
	app  *app
	dir  string
	logs *bytes.Buffer
}

func eachDialect(t *testing.T, fn func(t *testing.T, a *testApp)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newTestApp(t, "")) })
	t.Run("postgres", func(t *testing.T) { fn(t, newTestApp(t, dbtest.PostgresURL(t))) })
}

func newTestApp(t testing.TB, dbURL string, extraEnv ...string) *testApp {
	t.Helper()
	return newTestAppWith(t, dbURL, deps{}, extraEnv...)
}

func newTestAppWith(t testing.TB, dbURL string, d deps, extraEnv ...string) *testApp {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"FL_DATA_DIR": dir, "FL_JWT_SECRET": secretForIT, "FL_ONEC_USER": onecUser, "FL_ONEC_PASSWORD": onecPass,
		"FL_PUBLIC_URL": "https://api.example.kz", "FL_OTP_COOLDOWN": "1ms",
	}
	if dbURL != "" {
		env["FL_DATABASE_URL"] = dbURL
	}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		env[extraEnv[i]] = extraEnv[i+1]
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	a, err := open(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), d)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(a.close)
	a.push.Start(context.Background())
	if err := a.vin.Start(context.Background()); err != nil {
		t.Fatalf("vin checks: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = a.push.Close(ctx)
	})
	if err := a.onec.LoadDemo(context.Background()); err != nil {
		t.Fatalf("demo: %v", err)
	}
	return &testApp{t: t, app: a, dir: dir, logs: logs}
}

// listen serves the app on a loopback port for tests that need a real connection.
func (ta *testApp) listen() string {
	ta.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ta.t.Fatal(err)
	}
	go func() { _ = ta.app.http.Listener(ln) }()
	ta.t.Cleanup(func() { _ = ta.app.http.Shutdown() })
	return "http://" + ln.Addr().String()
}

type answer struct {
	code int
	raw  []byte
	body map[string]any
	hdr  http.Header
}

func (a answer) data() map[string]any { d, _ := a.body["data"].(map[string]any); return d }
func (a answer) str(k string) string  { s, _ := a.data()[k].(string); return s }

func (ta *testApp) do(method, path string, body io.Reader, headers ...string) answer {
	ta.t.Helper()
	r := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ta.app.http.Test(r, -1)
	if err != nil {
		ta.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, raw: raw, hdr: resp.Header}
	if ct := resp.Header.Get("Content-Type"); len(ct) >= 16 && ct[:16] == "application/json" {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			ta.t.Fatalf("%s %s: bad JSON %s", method, path, raw)
		}
		if c, _ := a.data()["code"].(float64); int(c) != resp.StatusCode {
			ta.t.Fatalf("%s %s: data.code %v but status %d", method, path, a.data()["code"], resp.StatusCode)
		}
	}
	return a
}

func (ta *testApp) jsonDo(method, path string, v any, headers ...string) answer {
	b, _ := json.Marshal(v)
	return ta.do(method, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, headers...)...)
}

var otpLine = regexp.MustCompile(`OTP: (\d+)`)

// lastOTP reads the newest e-mail the file transport wrote, as a newcomer would.
func (ta *testApp) lastOTP() string {
	ta.t.Helper()
	files, _ := filepath.Glob(filepath.Join(ta.dir, "outbox", "*.eml"))
	sort.Strings(files)
	if len(files) == 0 {
		ta.t.Fatal("no e-mail in the outbox")
	}
	b, _ := os.ReadFile(files[len(files)-1])
	m := otpLine.FindSubmatch(b)
	if m == nil {
		ta.t.Fatalf("no OTP in %s", b)
	}
	return string(m[1])
}

// login runs OTP → /auth and returns the answer.
func (ta *testApp) login(biin string, body map[string]any) answer {
	ta.t.Helper()
	if a := ta.jsonDo(http.MethodPost, "/biin/"+biin, body); a.code != 200 {
		ta.t.Fatalf("OTP: %d %s", a.code, a.raw)
	}
	cred := base64.StdEncoding.EncodeToString([]byte(biin + "-" + body["uuid"].(string) + ":" + ta.lastOTP()))
	a := ta.do(http.MethodPost, "/auth", nil, "Authorization", "Basic "+cred)
	if a.code != 200 {
		ta.t.Fatalf("login: %d %s", a.code, a.raw)
	}
	return a
}

func director(device string) map[string]any {
	return map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}
}

func employee(device, mobile, name string) map[string]any {
	return map[string]any{"role_id": 2, "uuid": device, "FCM": "fcm-" + device, "mobile": mobile, "first_name": name}
}

func (ta *testApp) get(path, token string) answer {
	return ta.do(http.MethodGet, path, nil, "Authorization", "Bearer "+token)
}

func onecAuth() []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":"+onecPass))}
}

func wantStatus(t *testing.T, a answer, status int, errCode string) {
	t.Helper()
	if a.code != status {
		t.Fatalf("want %d, got %d %s", status, a.code, a.raw)
	}
	if errCode != "" && a.str("error") != errCode {
		t.Fatalf("want error %q, got %s", errCode, a.raw)
	}
}

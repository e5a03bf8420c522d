package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/apptest"
)

// The tests here predate internal/apptest and speak its API in their old, lower-case names; new tests
// use internal/apptest directly, beside their feature.

const (
	demoBIN     = apptest.DemoBIN
	demoIIN     = apptest.DemoIIN
	onecUser    = apptest.OneCUser
	onecPass    = apptest.OneCPass
	carType     = apptest.CarType
	binVehicle  = apptest.BINVehicle
	iinVehicle  = apptest.IINVehicle
	secretForIT = apptest.JWTSecret
)

type deps = app.Deps

type testApp struct {
	*apptest.App
	app  *app.App
	t    testing.TB
	dir  string
	logs *bytes.Buffer
}

func wrap(a *apptest.App) *testApp {
	return &testApp{App: a, app: a.App, t: a.T, dir: a.Dir, logs: a.Logs}
}

// api is the app reporting on ta.t, which a fuzz target swaps for each input's test.
func (ta *testApp) api() *apptest.App { a := *ta.App; a.T = ta.t; return &a }

func eachDialect(t *testing.T, fn func(t *testing.T, a *testApp)) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) { fn(t, wrap(a)) })
}

func newTestApp(t testing.TB, dbURL string, extraEnv ...string) *testApp {
	t.Helper()
	return wrap(apptest.New(t, dbURL, extraEnv...))
}

func newTestAppWith(t testing.TB, dbURL string, d deps, extraEnv ...string) *testApp {
	t.Helper()
	return wrap(apptest.NewWith(t, dbURL, d, extraEnv...))
}

func (ta *testApp) listen() string { ta.t.Helper(); return ta.api().Listen() }

type answer struct {
	code int
	raw  []byte
	body map[string]any
	hdr  http.Header
}

func answerOf(a apptest.Answer) answer {
	return answer{code: a.Code, raw: a.Raw, body: a.Body, hdr: a.Header}
}

func (a answer) data() map[string]any { d, _ := a.body["data"].(map[string]any); return d }
func (a answer) str(k string) string  { s, _ := a.data()[k].(string); return s }

func (ta *testApp) do(method, path string, body io.Reader, headers ...string) answer {
	ta.t.Helper()
	return answerOf(ta.api().Do(method, path, body, headers...))
}

func (ta *testApp) jsonDo(method, path string, v any, headers ...string) answer {
	ta.t.Helper()
	return answerOf(ta.api().JSON(method, path, v, headers...))
}

func (ta *testApp) lastOTP() string { ta.t.Helper(); return ta.api().LastOTP() }

func (ta *testApp) login(biin string, body map[string]any) answer {
	ta.t.Helper()
	return answerOf(ta.api().Login(biin, body))
}

func director(device string) map[string]any { return apptest.Director(device) }

func employee(device, mobile, name string) map[string]any {
	return apptest.Employee(device, mobile, name)
}

func (ta *testApp) get(path, token string) answer {
	ta.t.Helper()
	return answerOf(ta.api().Get(path, token))
}

func onecAuth() []string { return apptest.OneCAuth() }

func wantStatus(t *testing.T, a answer, status int, errCode string) {
	t.Helper()
	if a.code != status {
		t.Fatalf("want %d, got %d %s", status, a.code, a.raw)
	}
	if errCode != "" && a.str("error") != errCode {
		t.Fatalf("want error %q, got %s", errCode, a.raw)
	}
}

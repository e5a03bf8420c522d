package httpx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
)

func serve(t *testing.T, log *bytes.Buffer, register func(app *fiber.App)) *fiber.App {
	app := NewApp(slog.New(slog.NewJSONHandler(log, nil)), AppOptions{BodyLimit: 1 << 20})
	register(app)
	return app
}

func call(t *testing.T, app *fiber.App, method, path string) (int, map[string]any, string, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(method, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, body["data"].(map[string]any), string(raw), resp.Header.Get("Retry-After")
}

func TestErrors_BecomeEnvelopesWithTheMappedStatus(t *testing.T) {
	var log bytes.Buffer
	app := serve(t, &log, func(app *fiber.App) {
		app.Get("/panic", func(*fiber.Ctx) error { panic("secret internals") })
		app.Get("/db", func(*fiber.Ctx) error { return apperr.Wrap(apperr.Internal, io.ErrUnexpectedEOF, "db said password=x") })
		app.Get("/conflict", func(*fiber.Ctx) error { return apperr.New(apperr.Conflict, "report_not_awaiting_video", "no") })
		app.Get("/limited", func(*fiber.Ctx) error {
			return &apperr.Error{Code: apperr.RateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}
		})
		app.Get("/fields", func(*fiber.Ctx) error {
			var f apperr.FieldList
			f.Add("lat", "must be a number")
			return f.Err(apperr.Invalid, "bad")
		})
		app.Get("/plain", func(*fiber.Ctx) error { return io.EOF })
		app.Get("/dbdown", func(*fiber.Ctx) error {
			return fmt.Errorf("load: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
		})
	})
	for path, want := range map[string]struct {
		status int
		code   string
	}{
		"/panic": {500, "internal"}, "/db": {500, "internal"}, "/plain": {500, "internal"}, "/dbdown": {503, "unavailable"},
		"/conflict": {409, "report_not_awaiting_video"}, "/limited": {429, "rate_limited"}, "/fields": {400, "invalid"},
		"/nowhere": {404, "not_found"},
	} {
		status, data, raw, retry := call(t, app, "GET", path)
		if status != want.status || data["code"] != float64(want.status) || data["error"] != want.code {
			t.Errorf("%s: %d %s", path, status, raw)
		}
		if status == 500 && (data["message"] != "internal error" || data["request_id"] == "" || strings.Contains(raw, "secret") || strings.Contains(raw, "password")) {
			t.Errorf("%s: 500 body says too much: %s", path, raw)
		}
		if path == "/limited" && retry != "2" {
			t.Errorf("Retry-After %q, want 2", retry)
		}
		if path == "/fields" && !strings.Contains(raw, `"fields":[{"field":"lat","message":"must be a number"}]`) {
			t.Errorf("fields: %s", raw)
		}
	}
	if !strings.Contains(log.String(), "secret internals") || !strings.Contains(log.String(), "request_id") {
		t.Errorf("the panic was not logged with its request id: %s", log.String())
	}
	status, data, _, _ := call(t, app, "POST", "/conflict")
	if status != 405 || data["error"] != "method_not_allowed" {
		t.Errorf("wrong method: %d %v", status, data)
	}
}

func TestRespond_KeepsPayloadFieldOrderAfterMessageAndCode(t *testing.T) {
	var log bytes.Buffer
	app := serve(t, &log, func(app *fiber.App) {
		app.Get("/", func(c *fiber.Ctx) error {
			return Respond(c, 201, "Report has been successfully saved.", struct {
				Z string `json:"z"`
				A int    `json:"a"`
			}{"last-first", 1})
		})
	})
	resp, _ := app.Test(httptest.NewRequest("GET", "/", nil), -1)
	raw, _ := io.ReadAll(resp.Body)
	want := `{"status":"ok","data":{"message":"Report has been successfully saved.","code":201,"z":"last-first","a":1}}`
	if string(raw) != want || resp.StatusCode != 201 {
		t.Fatalf("got %d %s", resp.StatusCode, raw)
	}
}

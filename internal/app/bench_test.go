package app_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/httpx"
)

// The benchmarks go through app.Test like the baseline, so the ratio shows what the service adds to a
// bare Fiber route; run them together: go test -run '^$' -bench . ./cmd/forteleasing/

func BenchmarkBaseline_BareFiberRoute(b *testing.B) {
	app := httpx.NewApp(slog.New(slog.NewJSONHandler(io.Discard, nil)), httpx.AppOptions{})
	app.Get("/ping", func(c *fiber.Ctx) error { return httpx.OK(c, fiber.Map{"pong": true}) })
	for b.Loop() {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/ping", nil), -1)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func newBenchApp(b *testing.B, env ...string) *apptest.App {
	b.Helper()
	return apptest.New(b, "", env...)
}

func BenchmarkRefreshToken(b *testing.B) {
	ta := newBenchApp(b)
	refresh := ta.Login(apptest.DemoBIN, apptest.Director("bench")).Str("refresh_token")
	for b.Loop() {
		a := ta.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+refresh)
		if a.Code != 200 {
			b.Fatalf("refresh: %d %s", a.Code, a.Raw)
		}
		refresh = a.Str("refresh_token")
	}
}

func BenchmarkAuthenticatedEmployeeList(b *testing.B) {
	ta := newBenchApp(b)
	access := ta.Login(apptest.DemoBIN, apptest.Director("bench")).Str("access_token")
	for b.Loop() {
		if a := ta.Get("/employee/list", access); a.Code != 200 {
			b.Fatalf("list: %d", a.Code)
		}
	}
}

func BenchmarkLogin_OTPThenAuth(b *testing.B) {
	ta := newBenchApp(b, "FL_OTP_HOURLY_PER_BIN", "100000000", "FL_OTP_HOURLY_PER_IP", "100000000")
	i := 0
	for b.Loop() {
		i++
		ta.Login(apptest.DemoBIN, apptest.Director("bench-"+strconv.Itoa(i)))
	}
}

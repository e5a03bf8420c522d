package httpx

import (
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func TestBodyRules(t *testing.T) {
	rules := BodyRules{
		{Path: "/1c/", Prefix: true, Limit: 32 << 20},
		{Path: "/reports/upload", Limit: Streamed, Long: []string{fiber.MethodPost}},
		{Path: "/tus", Prefix: true, Limit: Streamed, Long: []string{fiber.MethodPatch, fiber.MethodPost}},
	}
	app := fiber.New()
	for _, tc := range []struct {
		method, path string
		limit        int
		long         bool
	}{
		{"PUT", "/1c/reports", 32 << 20, false},
		{"PUT", "/1C/Reports/", 32 << 20, false}, // routing ignores case and a trailing slash; so do the limits
		{"PUT", "/1c", 32 << 20, false},
		{"PUT", "/1cx", DefaultBodyLimit, false},
		{"POST", "/reports/upload", Streamed, true},
		{"POST", "/reports/upload/", Streamed, true},
		{"GET", "/reports/upload", Streamed, false},
		{"POST", "/reports/upload/x", DefaultBodyLimit, false}, // an exact rule covers nothing below it
		{"PATCH", "/tus/abc", Streamed, true},
		{"HEAD", "/tus/abc", Streamed, false},
		{"POST", "/tusk", DefaultBodyLimit, false},
		{"POST", "/auth", DefaultBodyLimit, false},
	} {
		if got := rules.Limit(tc.path); got != tc.limit {
			t.Errorf("Limit(%s) = %d, want %d", tc.path, got, tc.limit)
		}
		fctx := &fasthttp.RequestCtx{}
		fctx.Request.Header.SetMethod(tc.method)
		fctx.Request.SetRequestURI(tc.path)
		c := app.AcquireCtx(fctx)
		if got := rules.Long(c); got != tc.long {
			t.Errorf("Long(%s %s) = %v, want %v", tc.method, tc.path, got, tc.long)
		}
		app.ReleaseCtx(c)
	}
}

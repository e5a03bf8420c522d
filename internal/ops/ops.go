// Package ops is what the operator sees: liveness and readiness checks, Prometheus metrics and the
// access log. It knows nothing of the features; cmd/forteleasing hands it the checks and the labels.
package ops

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Routes registers GET /healthz (the process answers) and GET /readyz (every check passes).
func Routes(r fiber.Router, checks map[string]Check) {
	r.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	r.Get("/readyz", func(c *fiber.Ctx) error {
		results, ok := runChecks(c.UserContext(), checks)
		status, code := "ok", fiber.StatusOK
		if !ok {
			status, code = "unavailable", fiber.StatusServiceUnavailable
		}
		return c.Status(code).JSON(fiber.Map{"status": status, "checks": results})
	})
}

// runChecks runs the checks in parallel, each bounded, and says which failed. Failure text stays short:
// causes go to the log of the component, not to anyone who can reach /readyz.
func runChecks(ctx context.Context, checks map[string]Check) (map[string]string, bool) {
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			res := "ok"
			if err := check(cctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			results[name] = res
			if res != "ok" {
				ok = false
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results, ok
}

// Metrics are the service's own Prometheus collectors, on a registry of their own.
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	UploadBytes prometheus.Counter
	OTPsSent    prometheus.Counter

	// OneCAuthFailures counts failed 1C logins; OneCAuthBlocked the 1C requests refused with 429 for them.
	OneCAuthFailures, OneCAuthBlocked prometheus.Counter
}

func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forteleasing_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "forteleasing_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60},
		}, []string{"route", "method"}),
		UploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forteleasing_upload_bytes_total", Help: "Bytes of committed inspection videos.",
		}),
		OTPsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forteleasing_otps_sent_total", Help: "One-time passwords e-mailed.",
		}),
	}
	m.OneCAuthFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "forteleasing_onec_auth_failures_total", Help: "Failed 1C logins (wrong credentials presented).",
	})
	m.OneCAuthBlocked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "forteleasing_onec_auth_blocked_total", Help: "1C requests refused with 429 after too many failed logins from their address.",
	})
	m.Registry.MustRegister(m.OneCAuthFailures, m.OneCAuthBlocked)
	m.Registry.MustRegister(m.requests, m.latency, m.UploadBytes, m.OTPsSent,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Caller is who made a request, for the access log; zero when nobody was authenticated.
type Caller struct{ CompanyID, UserID int64 }

// Middleware counts and times every request and writes one access-log line. who gives the caller's
// identity once the handler has run; the log never holds headers, bodies or query strings.
func (m *Metrics) Middleware(log *slog.Logger, who func(c *fiber.Ctx) Caller) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler write the envelope now, so the status below is the one sent.
			if herr := c.App().Config().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		status := c.Response().StatusCode()
		route := routeOf(c)
		method := utils.CopyString(c.Method()) // Fiber reuses the buffer; metrics keep label values
		elapsed := time.Since(start)
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(elapsed.Seconds())
		attrs := []any{"request_id", c.Locals("requestid"), "method", method, "route", route, "status", status,
			"latency_ms", float64(elapsed.Microseconds()) / 1000}
		if who != nil {
			if id := who(c); id.UserID != 0 {
				attrs = append(attrs, "company_id", id.CompanyID, "user_id", id.UserID)
			}
		}
		log.Info("request", attrs...)
		return nil
	}
}

// routeOf is the matched pattern (/reports/vehicle/select/:vehicle_guid), never the raw path, so labels
// stay few and ids or signed query strings never reach metrics or logs.
func routeOf(c *fiber.Ctx) string {
	if r := c.Route(); r != nil && r.Path != "" && r.Path != "/" {
		return r.Path
	}
	return "unmatched"
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/employees"
	"github.com/forteleasing/inspections/internal/apidocs"
	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/internal/mail"
	"github.com/forteleasing/inspections/internal/ops"
	"github.com/forteleasing/inspections/internal/push"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/onec"
	"github.com/forteleasing/inspections/reports"
	"github.com/forteleasing/inspections/vehicles"
	"github.com/forteleasing/inspections/vehicles/provider"
	"github.com/forteleasing/inspections/vehicles/vincheck"
)

// Body limits per kind of route; the server-wide cap is the upload route's.
const (
	mobileBodyLimit = 64 << 10
	onecBodyLimit   = 32 << 20 // a batch of vehicle types carries base64 PNGs
)

// app is the whole service, opened and wired in one place.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	db       *database.DB
	http     *fiber.App
	auth     *auth.Service
	onec     *onec.Service
	media    media.Store
	uploads  *reports.Uploads
	authHTTP *auth.Handler
	push     *push.Dispatcher
	metrics  *ops.Metrics
	vin      *vincheck.Service
}

// pushSender sends through FCM when credentials are configured, and only logs otherwise.
func pushSender(ctx context.Context, cfg config.Config, log *slog.Logger) (push.Sender, error) {
	if cfg.FCMCredentials == "" {
		log.Info("FL_FCM_CREDENTIALS is not set: push notifications are logged, not sent")
		return push.NewLog(log), nil
	}
	return push.NewFCM(ctx, cfg.FCMCredentials, push.FCMOptions{})
}

// deps replaces parts that talk to the outside world; tests point them at local peers.
type deps struct {
	pushSender push.Sender                     // nil: from FL_FCM_CREDENTIALS
	vinRetry   func(attempt int) time.Duration // nil: River's backoff between VIN check tries
	providers  provider.Options                // zero: the provider layer's timeouts, retries and breaker
}

func open(ctx context.Context, cfg config.Config, log *slog.Logger, d deps) (a *app, err error) {
	if err := cfg.EnsureJWTSecret(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if err := db.MigrateUp(ctx); err != nil {
		return nil, err
	}
	mailer, err := mail.Open(cfg.MailURL, mail.Options{From: cfg.MailFrom, Logger: log})
	if err != nil {
		return nil, err
	}
	a = &app{cfg: cfg, log: log, db: db, metrics: ops.NewMetrics()}
	now := time.Now
	tokens := auth.NewTokens(cfg.JWTSecret, cfg.JWTIssuer, cfg.AccessTTL, cfg.RefreshTTL, now)
	authStore := auth.NewStore(db)
	a.auth = auth.NewService(authStore, tokens, mailer, auth.Options{
		OTP: cfg.OTP, RefreshReuseGrace: cfg.RefreshReuseGrace, Now: now, Logger: log, OnOTPSent: a.metrics.OTPsSent.Inc,
	})
	store, err := media.Open(ctx, cfg.MediaURL, media.Options{PublicURL: cfg.PublicURL, SigningKey: cfg.MediaSigningKey()})
	if err != nil {
		return nil, err
	}
	a.media = store
	a.uploads = reports.NewUploads(reports.NewStore(db), store, cfg.UploadMaxBytes, now, log)

	popts := d.providers
	popts.Registerer = a.metrics.Registry // provider calls by provider and outcome on /metrics
	okpock := provider.NewOkpock(cfg.Providers.Okpock, popts)
	odometer := provider.NewOdometer(cfg.Providers.Odometer, popts)
	checker := vincheck.NewChecker(vincheck.Providers{
		Lookup: provider.NewChain(okpock, provider.NewRegnum(cfg.Providers.Regnum, popts)), Okpock: okpock, Odometer: odometer,
	}, now)
	if a.vin, err = vincheck.Open(ctx, db, checker, vincheck.Options{DatabaseURL: cfg.DatabaseURL, Logger: log, Now: now, RetryDelay: d.vinRetry}); err != nil {
		return nil, err
	}
	a.uploads.OnCommitted = func(ctx context.Context, u reports.Committed) {
		a.metrics.UploadBytes.Add(float64(u.Size))
		// After the commit, and never failing the upload: a lost enqueue is found by the reconciler.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		a.vin.Enqueue(ctx, u.UploadID)
	}

	sender := d.pushSender
	if sender == nil {
		if sender, err = pushSender(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	a.push = push.NewDispatcher(sender, push.DispatcherOptions{
		Logger: log,
		OnUnregistered: func(ctx context.Context, token string) {
			if err := authStore.ForgetPushToken(ctx, token); err != nil {
				log.Error("push: forget dead token", "err", err)
			}
		},
	})
	a.onec = onec.NewService(onec.NewStore(db), onec.Options{
		Now: now, Videos: store, Checks: a.vin, Notifier: onec.NewPushNotifier(authStore, a.push, log),
	})

	a.http = httpx.NewApp(log, httpx.AppOptions{BodyLimit: int(cfg.UploadMaxBytes) + 1<<20, ProxyHeader: cfg.ProxyHeader, StreamRequestBody: true})
	employeeStore := employees.NewStore(db, now)
	reportsSvc := reports.NewService(reports.NewStore(db), employeeStore, cfg.PublicURL, now)
	authHTTP := auth.NewHandler(a.auth, reportsSvc, cfg.OTP.Digits)
	a.authHTTP = authHTTP

	a.http.Use(a.metrics.Middleware(log, func(c *fiber.Ctx) []any {
		if p := auth.CurrentPrincipal(c); p.UserID != 0 {
			return []any{"company_id", p.CompanyID, "user_id", p.UserID}
		}
		return nil
	}))
	checks := map[string]ops.Check{
		"database":     db.PingContext,
		"object_store": store.Ping,
		"migrations": func(ctx context.Context) error {
			current, err := db.MigrationsCurrent(ctx)
			if err == nil && !current {
				err = errors.New("pending")
			}
			return err
		},
	}
	ops.Routes(a.http, checks)
	apidocs.Routes(a.http)
	a.http.Use(bodyLimits())
	onecHTTP := onec.NewHandler(a.onec, cfg.OneCUser, cfg.OneCPassword)
	onecHTTP.Routes(a.http)
	authHTTP.Routes(a.http)
	employees.NewHandler(employeeStore).Routes(a.http, authHTTP.RequireUser)
	reports.NewHandler(reportsSvc).Routes(a.http, authHTTP.RequireUser)
	reports.NewUploadHandler(a.uploads).Routes(a.http, authHTTP.RequireUser)
	vehiclesHTTP := vehicles.NewHandler(vehicles.NewStore(db))
	vehiclesHTTP.Routes(a.http)
	vehiclesHTTP.QRRoutes(a.http, onecHTTP.RequireOneC)
	vincheck.NewHandler(a.vin, cfg.Providers.VAGVIN.CallbackSecret).Routes(a.http, onecHTTP.RequireOneC)
	if disk, ok := store.(*media.Disk); ok {
		media.DownloadRoutes(a.http, disk)
	}
	return a, nil
}

// bodyLimits picks each route's body limit in one place: 1C batches may be large, the upload route
// enforces its own limit while streaming, everything else is small JSON or form data.
func bodyLimits() fiber.Handler {
	onecLimit, mobileLimit := httpx.LimitBody(onecBodyLimit), httpx.LimitBody(mobileBodyLimit)
	return func(c *fiber.Ctx) error {
		switch p := c.Path(); {
		case strings.HasPrefix(p, "/1c/"):
			return onecLimit(c)
		case p == "/reports/upload":
			return c.Next()
		default:
			return mobileLimit(c)
		}
	}
}

func (a *app) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return a.serve(ctx, ln)
}

// serve answers on ln until ctx ends, then shuts down in order: stop accepting, let in-flight requests
// (uploads included) finish within the deadline, drain the push queue, stop the workers.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	a.push.Start(ctx)
	if err := a.vin.Start(ctx); err != nil {
		return fmt.Errorf("vin checks: %w", err)
	}
	go a.every(ctx, time.Minute, "queue unchecked uploads", a.vin.Reconcile)
	go a.every(ctx, time.Hour, "purge OTP ledgers", a.auth.PurgeLedgers)
	go a.every(ctx, 15*time.Minute, "sweep orphaned videos", func(ctx context.Context) error {
		n, err := a.uploads.SweepOrphans(ctx, time.Hour)
		if n > 0 {
			a.log.Info("removed orphaned videos", "count", n)
		}
		return err
	})

	errc := make(chan error, 2)
	go func() { errc <- a.http.Listener(ln) }()
	admin := a.adminServer()
	if admin != nil {
		go func() {
			if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
		defer admin.Close()
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "public_url", a.cfg.PublicURL, "database", database.Redact(a.cfg.DatabaseURL))
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing in-flight requests")
	if err := a.http.ShutdownWithTimeout(30 * time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.vin.Stop(drain); err != nil {
		a.log.Warn("vin checks: stop", "err", err)
	}
	return a.push.Close(drain)
}

// adminServer serves /metrics (and the health checks again) on FL_ADMIN_ADDR, kept off the public address.
func (a *app) adminServer() *http.Server {
	if a.cfg.AdminAddr == "off" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	health := adaptor.FiberApp(a.http)
	mux.Handle("/healthz", health)
	mux.Handle("/readyz", health)
	// Profiles for the operator (and go run ./bench -pprof): the admin address is loopback by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.log.Info("admin listening", "addr", a.cfg.AdminAddr)
	return &http.Server{Addr: a.cfg.AdminAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// every runs fn now and then every interval until ctx ends, logging failures.
func (a *app) every(ctx context.Context, interval time.Duration, name string, fn func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			a.log.Error(name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.vin.Stop(ctx) // already stopped after serve; running in tests
	if err := a.db.Close(); err != nil {
		a.log.Error("close database", "err", err)
	}
}

// Package app opens and wires the whole service: configuration in, a served HTTP app and its workers out.
// cmd/forteleasing runs it; internal/apptest builds it for tests.
package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/authenticity"
	"github.com/forteleasing/inspections/employees"
	"github.com/forteleasing/inspections/internal/apidocs"
	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/internal/jobs"
	"github.com/forteleasing/inspections/internal/limits"
	"github.com/forteleasing/inspections/internal/mail"
	"github.com/forteleasing/inspections/internal/ops"
	"github.com/forteleasing/inspections/internal/push"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/notify"
	"github.com/forteleasing/inspections/onec"
	"github.com/forteleasing/inspections/reports"
	"github.com/forteleasing/inspections/resumable"
	"github.com/forteleasing/inspections/vehicles"
	"github.com/forteleasing/inspections/vehicles/provider"
	"github.com/forteleasing/inspections/vehicles/vincheck"
)

// App is the whole service, opened and wired in one place.
type App struct {
	Cfg      config.Config
	Log      *slog.Logger
	DB       *database.DB
	HTTP     *fiber.App
	Auth     *auth.Service
	OneC     *onec.Service
	Media    media.Store
	Uploads  *reports.Uploads
	Tus      *resumable.Service
	AuthHTTP *auth.Handler
	Jobs     *jobs.Queue
	Analysis *authenticity.Service
	Notify   *notify.Service
	Metrics  *ops.Metrics
	VIN      *vincheck.Service
	// UploadSlots caps each user's concurrent uploads (plain and tus PATCH share it); Spool caps
	// the bytes of upload temp files on this instance.
	UploadSlots *limits.Slots
	Spool       *limits.Space
	// OneCThrottle counts failed 1C logins per client address.
	OneCThrottle *onec.Throttle
}

// pushSender sends through FCM when credentials are configured, and only logs otherwise.
func pushSender(ctx context.Context, cfg config.Config, log *slog.Logger) (push.Sender, error) {
	if cfg.FCMCredentials == "" {
		log.Info("FL_FCM_CREDENTIALS is not set: push notifications are logged, not sent")
		return push.NewLog(log), nil
	}
	return push.NewFCM(ctx, cfg.FCMCredentials, push.FCMOptions{})
}

// Deps replaces parts that talk to the outside world; tests point them at local peers.
type Deps struct {
	PushSender push.Sender                     // nil: from FL_FCM_CREDENTIALS
	VINRetry   func(attempt int) time.Duration // nil: River's backoff between VIN check tries
	Providers  provider.Options                // zero: the provider layer's timeouts, retries and breaker
}

// Open opens the database (migrating it), the object store and the workers, and wires the routes.
// The workers start with Serve (or, in tests, Start); Close releases what Open opened.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, d Deps) (a *App, err error) {
	if err := cfg.EnsureJWTSecret(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rel := cfg.Reliability
	db, err := database.OpenTimeout(ctx, cfg.DatabaseURL, rel.DBTimeout)
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
	a = &App{Cfg: cfg, Log: log, DB: db, Metrics: ops.NewMetrics(), Jobs: jobs.New(db),
		UploadSlots: limits.NewSlots(rel.UploadsPerUser), Spool: limits.NewSpace(rel.SpoolMaxBytes)}
	now := time.Now
	tokens := auth.NewTokens(cfg.JWTSecret, cfg.JWTIssuer, cfg.AccessTTL, cfg.RefreshTTL, now)
	authStore := auth.NewStore(db)
	a.Auth = auth.NewService(authStore, tokens, mailer, auth.Options{
		OTP: cfg.OTP, RefreshReuseGrace: cfg.RefreshReuseGrace, Now: now, Logger: log, OnOTPSent: a.Metrics.OTPsSent.Inc,
	})
	store, err := media.Open(ctx, cfg.MediaURL, media.Options{PublicURL: cfg.PublicURL, SigningKey: cfg.MediaSigningKey(),
		PublicStoreURL: cfg.MediaPublicURL, Spool: a.Spool, IdleTimeout: rel.StoreIdleTimeout})
	if err != nil {
		return nil, err
	}
	a.Media = store
	reportStore := reports.NewStore(db)
	a.Uploads = reports.NewUploads(reportStore, store, cfg.UploadMaxBytes, now, log)
	a.Uploads.CountBytes(a.Metrics.UploadBytes)

	popts := d.Providers
	popts.Registerer = a.Metrics.Registry // provider calls by provider and outcome on /metrics
	okpock := provider.NewOkpock(cfg.Providers.Okpock, popts)
	odometer := provider.NewOdometer(cfg.Providers.Odometer, popts)
	checker := vincheck.NewChecker(vincheck.Providers{
		Lookup: provider.NewChain(okpock, provider.NewRegnum(cfg.Providers.Regnum, popts)), Okpock: okpock, Odometer: odometer,
	}, now)
	a.Analysis = authenticity.NewService(authenticity.NewStore(db, reports.Changes{}), store, a.Jobs, authenticity.Options{
		Config: cfg.Authenticity, Logger: log, Now: now, Registerer: a.Metrics.Registry,
		VIN: func(ctx context.Context, reportID int64) (*authenticity.VINFacts, error) {
			checks, err := a.VIN.ForReports(ctx, []int64{reportID})
			if err != nil {
				return nil, err
			}
			return authenticity.VINFactsOf(checks[reportID]), nil
		},
	})
	a.VIN = vincheck.New(db, checker, a.Jobs, vincheck.Options{Now: now, RetryDelay: d.VINRetry})
	a.VIN.Hook(a.Analysis)     // a finished check commits with the upload's re-evaluation job
	a.Uploads.Hook(a.VIN)      // the check's job commits with the upload
	a.Uploads.Hook(a.Analysis) // and so do the analysis's pending row and job

	sender := d.PushSender
	if sender == nil {
		if sender, err = pushSender(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	a.Notify = notify.New(notify.NewStore(db), a.Jobs, sender, log)
	a.OneC = onec.NewService(onec.NewStore(db), onec.Options{Now: now, Videos: store, Checks: a.VIN, Notifier: a.Notify,
		Authenticity: a.Analysis, Media: store,
		Review: onec.ReviewOptions{PublicURL: cfg.PublicURL, Key: cfg.ReviewSigningKey(), TTL: cfg.Authenticity.ReviewLinkTTL, Rules: cfg.Authenticity},
	})
	a.Auth.Schedule(a.Jobs)
	a.Uploads.Schedule(a.Jobs)

	for _, w := range cfg.Warnings() {
		log.Warn("configuration: " + w)
	}
	var proxies httpx.Proxies
	if cfg.ProxyHeader != "" && len(cfg.TrustedProxies) > 0 {
		proxies = httpx.Proxies{Header: cfg.ProxyHeader, Trusted: cfg.TrustedProxies}
	}
	a.HTTP = httpx.NewApp(log, httpx.AppOptions{BodyLimit: int(cfg.UploadMaxBytes) + 1<<20, Proxies: proxies,
		HSTS: strings.HasPrefix(cfg.PublicURL, "https://"), StreamRequestBody: true,
		HeaderTimeout: rel.HeaderTimeout})
	employeeStore := employees.NewStore(db, now)
	reportsSvc := reports.NewService(reportStore, employeeStore, cfg.PublicURL, now)
	authHTTP := auth.NewHandler(a.Auth, reportsSvc, cfg.OTP.Digits)
	a.AuthHTTP = authHTTP

	a.HTTP.Use(a.Metrics.Middleware(log, func(c *fiber.Ctx) ops.Caller {
		p := auth.CurrentPrincipal(c)
		return ops.Caller{CompanyID: p.CompanyID, UserID: p.UserID}
	}))
	// Before every route: framing, encodings and declared sizes are refused here, reading nothing.
	// Handlers read bodies with httpx.Body after authenticating, under their feature's limit.
	bodies := slices.Concat(onec.BodyRules(), reports.UploadBodyRules(), resumable.BodyRules())
	a.HTTP.Use(httpx.Guard(bodies.Limit))
	checks := map[string]ops.Check{
		"database":     db.PingContext,
		"object_store": store.Ping,
		"migrations":   db.CheckMigrations,
	}
	checks["disk"] = ops.FreeSpace(rel.MinFreeBytes, dataDirs(cfg)...)
	ops.Routes(a.HTTP, checks)
	a.HTTP.Use(httpx.Deadline(rel.RequestTimeout, bodies.Long))
	apidocs.Routes(a.HTTP)
	a.OneCThrottle = onec.NewThrottle(onec.NewStore(db), onec.ThrottleOptions{
		Max: cfg.OneCAuthFailures, Window: cfg.OneCAuthWindow, Now: now, Logger: log,
		OnFailure: a.Metrics.OneCAuthFailures.Inc, OnBlocked: a.Metrics.OneCAuthBlocked.Inc,
	})
	a.OneCThrottle.Schedule(a.Jobs)
	onecHTTP := onec.NewHandler(a.OneC, cfg.OneCUser, cfg.OneCPassword, a.OneCThrottle)
	onecHTTP.Routes(a.HTTP)
	onecHTTP.ReviewRoutes(a.HTTP, cfg.ReviewFrameAncestors)
	authHTTP.Routes(a.HTTP)
	employees.NewHandler(employeeStore).Routes(a.HTTP, authHTTP.RequireUser)
	reports.NewHandler(reportsSvc).Routes(a.HTTP, authHTTP.RequireUser)
	reports.NewUploadHandler(a.Uploads, a.UploadSlots).Routes(a.HTTP, authHTTP.RequireUser)
	if a.Tus, err = resumable.New(ctx, db, a.Uploads, store, resumable.Options{PublicURL: cfg.PublicURL, Now: now, Logger: log, Slots: a.UploadSlots}); err != nil {
		return nil, err
	}
	a.Tus.Routes(a.HTTP, authHTTP.RequireUser)
	a.Tus.Schedule(a.Jobs)
	vehiclesHTTP := vehicles.NewHandler(vehicles.NewStore(db))
	vehiclesHTTP.Routes(a.HTTP)
	vehiclesHTTP.QRRoutes(a.HTTP, onecHTTP.RequireOneC)
	vincheck.NewHandler(a.VIN, cfg.Providers.VAGVIN.CallbackSecret).Routes(a.HTTP, onecHTTP.RequireOneC)
	if disk, ok := store.(*media.Disk); ok {
		media.DownloadRoutes(a.HTTP, disk)
	}
	// Last: every feature has registered its workers and periodic jobs by now.
	if err := a.Jobs.Open(ctx, jobs.Options{Logger: log}); err != nil {
		return nil, err
	}
	return a, nil
}

// dataDirs are the local directories the service writes to: SQLite's, the disk store's, the spool's.
func dataDirs(cfg config.Config) []string {
	dirs := []string{os.TempDir()}
	if p, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite://"); ok {
		p, _, _ = strings.Cut(p, "?")
		dirs = append(dirs, filepath.Dir(p))
	}
	if p, ok := strings.CutPrefix(cfg.MediaURL, "file://"); ok {
		dirs = append(dirs, p)
	}
	return dirs
}

// Run serves on the configured address until ctx ends.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Cfg.Addr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return a.Serve(ctx, ln)
}

// Listener wraps ln so that slow but moving bodies are served and stalled ones cut (see
// httpx.IdleBodyListener); Serve uses it, and so must anything else that serves a.HTTP.
func (a *App) Listener(ln net.Listener) net.Listener {
	return httpx.IdleBodyListener(ln, a.Cfg.Reliability.BodyIdleTimeout)
}

// Serve answers on ln until ctx ends, then shuts down in order: stop accepting, let in-flight requests
// (uploads included) finish within the deadline, then let running jobs finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if err := a.Jobs.Start(ctx); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}

	errc := make(chan error, 2)
	go func() { errc <- a.HTTP.Listener(a.Listener(ln)) }()
	admin := a.adminServer()
	if admin != nil {
		go func() {
			if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
		defer admin.Close()
	}
	a.Log.Info("listening", "addr", ln.Addr().String(), "public_url", a.Cfg.PublicURL, "database", database.Redact(a.Cfg.DatabaseURL))
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: finishing in-flight requests")
	if err := a.HTTP.ShutdownWithTimeout(30 * time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Jobs.Stop(drain)
}

// adminServer serves /metrics (and the health checks again) on FL_ADMIN_ADDR, kept off the public address.
func (a *App) adminServer() *http.Server {
	if a.Cfg.AdminAddr == "off" {
		return nil
	}
	a.Log.Info("admin listening", "addr", a.Cfg.AdminAddr, "token_required", a.Cfg.AdminToken != "")
	return &http.Server{Addr: a.Cfg.AdminAddr, Handler: a.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
}

// AdminHandler serves the admin routes; /metrics and the profiles need FL_ADMIN_TOKEN when it is set
// (compared in constant time), the health checks never do (they are public on the main port anyway).
func (a *App) AdminHandler() http.Handler {
	guarded := http.NewServeMux()
	guarded.Handle("/metrics", promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{}))
	// Profiles for the operator (and go run ./bench -pprof): the admin address is loopback by default.
	guarded.HandleFunc("/debug/pprof/", pprof.Index)
	guarded.HandleFunc("/debug/pprof/profile", pprof.Profile)
	guarded.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux := http.NewServeMux()
	mux.Handle("/", requireAdminToken(a.Cfg.AdminToken, guarded))
	health := adaptor.FiberApp(a.HTTP)
	mux.Handle("/healthz", health)
	mux.Handle("/readyz", health)
	return mux
}

func requireAdminToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if token != "" {
			presented, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			got := sha256.Sum256([]byte(presented))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="forteleasing-admin"`)
				http.Error(w, "admin token required", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Close stops the workers if they still run and closes the database.
func (a *App) Close() {
	// Longer than the queue's soft stop (5 s): cancelled jobs must be recorded as retryable before
	// the database closes, or they wait for the rescuer.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = a.Jobs.Stop(ctx) // already stopped after Serve; running in tests
	if err := a.DB.Close(); err != nil {
		a.Log.Error("close database", "err", err)
	}
}

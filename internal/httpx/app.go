package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
)

// AppOptions are the server-wide HTTP settings.
type AppOptions struct {
	// BodyLimit is the server-wide cap; routes apply tighter ones through Guard and Body.
	BodyLimit int
	// Proxies decides the client's address (see ClientAddr); Fiber's own proxy header stays unset,
	// so c.IP() is never the raw, client-written header.
	Proxies Proxies
	// HSTS adds Strict-Transport-Security to every answer (FL_PUBLIC_URL is https).
	HSTS bool
	// HeaderTimeout bounds the reading of each request's header (fasthttp's ReadTimeout); serve the
	// app behind IdleBodyListener so that bodies are bounded by idle time instead. DefaultHeaderTimeout when 0.
	HeaderTimeout time.Duration
	// StreamRequestBody hands large bodies to handlers as a stream instead of buffering them whole;
	// the upload route reads it that way, every other route reads it through Body.
	StreamRequestBody bool
}

// NewApp builds a Fiber app whose every error, panic, unknown route and wrong method answers with the envelope.
func NewApp(log *slog.Logger, o AppOptions) *fiber.App {
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	app := fiber.New(fiber.Config{
		AppName:           "forteleasing",
		ErrorHandler:      ErrorHandler(log),
		BodyLimit:         o.BodyLimit,
		ReadTimeout:       o.HeaderTimeout, // the body's bound is its idle time: see IdleBodyListener
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		StreamRequestBody: o.StreamRequestBody,
		// Otherwise fasthttp parses (and spools) a whole multipart body before any handler runs.
		DisablePreParseMultipartForm: o.StreamRequestBody,
		DisableStartupMessage:        true,
		// X-Forwarded-Proto and -Host are believed from no one; the client's address comes from ClientAddr.
		EnableTrustedProxyCheck: true,
	})
	app.Use(SecureHeaders(o.HSTS))
	app.Use(dropOddRequestID)
	// Random ids: Fiber's default counts up and would tell anyone how many requests the service serves.
	app.Use(requestid.New(requestid.Config{Generator: utils.UUIDv4}))
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			log.Error("panic", "request_id", RequestID(c), "route", routePath(c), "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
		},
	}))
	app.Use(ClientAddr(o.Proxies))
	return app
}

// Deadline gives every request's context a deadline, except the requests long picks (upload bodies,
// which may take as long as they keep moving): their dependency calls carry deadlines of their own.
func Deadline(d time.Duration, long func(*fiber.Ctx) bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if d <= 0 || (long != nil && long(c)) {
			return c.Next()
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), d)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	}
}

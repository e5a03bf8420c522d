package httpx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
)

// AppOptions are the server-wide HTTP settings.
type AppOptions struct {
	// BodyLimit is the server-wide cap; routes apply tighter ones with LimitBody.
	BodyLimit   int
	ProxyHeader string
	// HeaderTimeout bounds the reading of each request's header (fasthttp's ReadTimeout); serve the
	// app behind IdleBodyListener so that bodies are bounded by idle time instead. DefaultHeaderTimeout when 0.
	HeaderTimeout time.Duration
	// StreamRequestBody hands large bodies to handlers as a stream instead of buffering them whole;
	// the upload route reads it that way, every other route goes through LimitBody.
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
		ProxyHeader:       o.ProxyHeader,
		StreamRequestBody: o.StreamRequestBody,
		// Otherwise fasthttp parses (and spools) a whole multipart body before any handler runs.
		DisablePreParseMultipartForm: o.StreamRequestBody,
		DisableStartupMessage:        true,
	})
	app.Use(requestid.New())
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			log.Error("panic", "request_id", RequestID(c), "route", routePath(c), "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
		},
	}))
	return app
}

// LimitBody refuses bodies over max bytes with 413 before a handler reads them. A streamed body of
// unknown length (chunked) is read through a limit, so it can never grow past max in memory.
func LimitBody(max int) fiber.Handler {
	tooLarge := fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", max))
	return func(c *fiber.Ctx) error {
		req := c.Request()
		if req.Header.ContentLength() > max {
			return tooLarge
		}
		if s := c.Context().RequestBodyStream(); s != nil {
			b, err := io.ReadAll(io.LimitReader(s, int64(max)+1))
			if err != nil {
				return fiber.NewError(fiber.StatusBadRequest, "the request body could not be read")
			}
			if len(b) > max {
				return tooLarge
			}
			req.SetBody(b)
		} else if len(req.Body()) > max {
			return tooLarge
		}
		return c.Next()
	}
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

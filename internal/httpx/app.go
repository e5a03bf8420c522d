package httpx

import (
	"fmt"
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
}

// NewApp builds a Fiber app whose every error, panic, unknown route and wrong method answers with the envelope.
func NewApp(log *slog.Logger, o AppOptions) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "forteleasing",
		ErrorHandler:          ErrorHandler(log),
		BodyLimit:             o.BodyLimit,
		ReadTimeout:           2 * time.Minute, // a 64 MiB upload over a slow mobile link
		WriteTimeout:          time.Minute,
		IdleTimeout:           2 * time.Minute,
		ProxyHeader:           o.ProxyHeader,
		DisableStartupMessage: true,
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

// LimitBody refuses bodies over max bytes with 413, before a handler reads them.
func LimitBody(max int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Request().Header.ContentLength() > max || len(c.Request().Body()) > max {
			return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", max))
		}
		return c.Next()
	}
}

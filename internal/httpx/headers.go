package httpx

import (
	"bytes"
	"regexp"

	"github.com/gofiber/fiber/v2"
)

// htmlPolicy is set on HTML answers that bring no policy of their own: nothing loads, nothing frames them.
const htmlPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// hstsValue asks browsers to use https for a year; sent only when FL_PUBLIC_URL is https.
const hstsValue = "max-age=31536000"

// SecureHeaders sets the headers every answer carries — nosniff, no referrer, HSTS behind https — and
// a Content-Security-Policy with frame-ancestors 'none' on HTML pages.
func SecureHeaders(hsts bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := &c.Response().Header
		h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		if hsts {
			h.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
		}
		err := c.Next()
		if bytes.HasPrefix(bytes.ToLower(h.ContentType()), []byte("text/html")) {
			if len(h.Peek(fiber.HeaderContentSecurityPolicy)) == 0 {
				h.Set(fiber.HeaderContentSecurityPolicy, htmlPolicy)
			}
			h.Set(fiber.HeaderXFrameOptions, "DENY")
		}
		return err
	}
}

// clientRequestID is what a client (or the load balancer) may send as X-Request-ID and have kept:
// short and plain, so it cannot forge log lines or grow them.
var clientRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// dropOddRequestID removes an X-Request-ID the request-id middleware should not adopt.
func dropOddRequestID(c *fiber.Ctx) error {
	if id := c.Request().Header.Peek(fiber.HeaderXRequestID); len(id) > 0 && !clientRequestID.Match(id) {
		c.Request().Header.Del(fiber.HeaderXRequestID)
	}
	return c.Next()
}

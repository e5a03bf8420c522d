// Package apidocs serves the API's hand-maintained OpenAPI 3.1 description and a page rendered from it,
// both from the binary: the service runs offline, so the docs load nothing from elsewhere.
package apidocs

import (
	_ "embed"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
)

//go:embed openapi.json
var spec []byte

// pagePolicy lets the page use its own inline styles and nothing else, so a stray link to a CDN fails
// in every browser instead of working only while online.
const pagePolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Routes registers GET /openapi.json and GET /docs. The page is rendered once, here; a document that
// cannot be rendered (a broken edit, caught by the tests) answers 500 instead of stopping the service.
func Routes(r fiber.Router) {
	page, err := Render(spec)
	r.Get("/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(spec)
	})
	r.Get("/docs", func(c *fiber.Ctx) error {
		if err != nil {
			return apperr.Wrap(apperr.Internal, err, "the documentation page could not be rendered")
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set(fiber.HeaderContentSecurityPolicy, pagePolicy)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		return c.Send(page)
	})
}

// Render turns an OpenAPI document into the HTML page served at /docs.
func Render(doc []byte) ([]byte, error) {
	d, err := parse(doc)
	if err != nil {
		return nil, fmt.Errorf("apidocs: %w", err)
	}
	v, err := buildView(d)
	if err != nil {
		return nil, fmt.Errorf("apidocs: %w", err)
	}
	return renderPage(v)
}

// Spec returns a copy of the OpenAPI document served at /openapi.json.
func Spec() []byte { return append([]byte(nil), spec...) }

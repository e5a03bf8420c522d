package httpx

import (
	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections"
)

// KeyParam is the path parameter name as a canonical GUID or ref_key (lower-case), copied out of
// Fiber's buffers.
func KeyParam(c *fiber.Ctx, name string) string { return inspections.CanonicalKey(c.Params(name)) }

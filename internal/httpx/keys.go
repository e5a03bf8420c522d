package httpx

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CanonicalKey is the one spelling of a 1C GUID or ref_key: trimmed and lower-case, as the seed shows
// them and as they are stored. iOS's UUID().uuidString and some 1C exports send them upper-case; the case
// carries no meaning (CONTRACT §8).
func CanonicalKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// KeyParam is the path parameter name as a canonical key, copied out of Fiber's buffers.
func KeyParam(c *fiber.Ctx, name string) string { return CanonicalKey(c.Params(name)) }

package httpx

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// A BodyRule is a feature's say about the bodies of its routes: how large they may be, and whether
// they may take as long as they keep moving (video uploads) rather than the request deadline.
type BodyRule struct {
	// Path is the route's path in lower case; with Prefix it covers Path and everything under it.
	Path   string
	Prefix bool
	// Limit in bytes, or Streamed when the handler reads the body as a stream under a limit of its own.
	Limit int
	// Long names the methods whose body may outlast the request deadline; none: every body is bounded.
	Long []string
}

// BodyRules are every feature's rules; a path no rule covers gets DefaultBodyLimit and the deadline.
type BodyRules []BodyRule

func (rs BodyRules) match(path string) (BodyRule, bool) {
	p := strings.TrimRight(strings.ToLower(path), "/")
	for _, r := range rs {
		base := strings.TrimRight(r.Path, "/")
		if p == base || (r.Prefix && strings.HasPrefix(p, base+"/")) {
			return r, true
		}
	}
	return BodyRule{}, false
}

// Limit is the path's body limit, for Guard.
func (rs BodyRules) Limit(path string) int {
	if r, ok := rs.match(path); ok {
		return r.Limit
	}
	return DefaultBodyLimit
}

// Long reports whether the request's body may take as long as it keeps moving, for Deadline.
func (rs BodyRules) Long(c *fiber.Ctx) bool {
	r, ok := rs.match(c.Path())
	return ok && slices.Contains(r.Long, c.Method())
}

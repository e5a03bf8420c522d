package httpx

import (
	"bytes"
	"io"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
)

// DefaultBodyLimit applies to a route the Guard's limits give no other figure: small JSON or form bodies.
const DefaultBodyLimit = 64 << 10

// Streamed is the limit of a route whose handler reads the body as a stream under a limit of its own
// (the video uploads): the Guard checks nothing of its size and Body refuses to buffer it.
const Streamed = -1

type bodyLimitKey struct{}

// Guard runs before routing and reads no byte of the body. It refuses, with the connection closed:
//   - ambiguous framing: more than one Content-Length, or Content-Length beside Transfer-Encoding (400);
//   - any Content-Encoding but identity (415 unsupported_encoding): bodies are never decoded, so a
//     273-byte gzip bomb stays 273 bytes;
//   - a declared Content-Length over the route's limit (413).
//
// limitOf gives each path its limit in bytes (or Streamed). The body itself is read later, by Body,
// once the route's handlers have checked the caller's credentials: an unauthenticated body is never
// buffered (fasthttp discards or cuts off whatever the handler left unread).
func Guard(limitOf func(path string) int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := &c.Request().Header
		if err := CheckFraming(h.RawHeaders()); err != nil {
			c.Context().SetConnectionClose()
			return err
		}
		if err := checkEncoding(h); err != nil {
			c.Context().SetConnectionClose()
			return err
		}
		limit := limitOf(c.Path())
		if limit > 0 && h.ContentLength() > limit {
			c.Context().SetConnectionClose()
			return tooLarge(limit)
		}
		c.Locals(bodyLimitKey{}, limit)
		return c.Next()
	}
}

// Body returns the request body, read now under the route's limit (see Guard) and kept for later calls.
// Handlers call it (or BodyValues) only after authentication; it never decodes a Content-Encoding.
func Body(c *fiber.Ctx) ([]byte, error) {
	limit, _ := c.Locals(bodyLimitKey{}).(int)
	if limit == Streamed {
		return nil, apperr.New(apperr.Internal, "internal", "this route streams its body")
	}
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	req := c.Request()
	if req.Header.ContentLength() > limit {
		return nil, tooLarge(limit)
	}
	if s := c.Context().RequestBodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, int64(limit)+1))
		if err != nil {
			c.Context().SetConnectionClose()
			return nil, apperr.Wrap(apperr.Invalid, err, "the request body could not be read")
		}
		if len(b) > limit {
			c.Context().SetConnectionClose()
			return nil, tooLarge(limit)
		}
		req.SetBody(b)
	}
	// Request().Body(), never Ctx.Body(): the latter decodes Content-Encoding with no limit.
	body := req.Body()
	if len(body) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

func tooLarge(limit int) error {
	return apperr.New(apperr.TooLarge, "too_large", "request body is larger than %d bytes", limit)
}

var errEncoded = apperr.New(apperr.UnsupportedMedia, "unsupported_encoding",
	"request bodies must not be compressed: send them without Content-Encoding")

// checkEncoding accepts no Content-Encoding or only "identity" (which it removes, so nothing downstream
// tries to decode it); anything else is refused before a byte is read.
func checkEncoding(h interface {
	PeekAll(string) [][]byte
	Del(string)
}) error {
	values := h.PeekAll(fiber.HeaderContentEncoding)
	if len(values) == 0 {
		return nil
	}
	for _, v := range values {
		for _, token := range bytes.Split(v, []byte(",")) {
			token = bytes.TrimSpace(token)
			if len(token) != 0 && !bytes.EqualFold(token, []byte("identity")) {
				return errEncoded
			}
		}
	}
	h.Del(fiber.HeaderContentEncoding)
	return nil
}

// CheckFraming reads the raw header block of a request (as received, one field per line) and refuses
// what RFC 9112 §6.3 calls a smuggling attempt: two Content-Length fields or a list of lengths, or
// Content-Length together with Transfer-Encoding. fasthttp 1.79 refuses duplicate lengths itself but
// answers a request with both framings as chunked; either way the connection must not be reused.
func CheckFraming(raw []byte) error {
	lengths, encodings := 0, 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		switch {
		case bytes.EqualFold(name, []byte(fiber.HeaderContentLength)):
			lengths++
			if bytes.IndexByte(value, ',') >= 0 {
				lengths++
			}
		case bytes.EqualFold(name, []byte(fiber.HeaderTransferEncoding)):
			encodings++
		}
	}
	switch {
	case lengths > 1:
		return apperr.New(apperr.Invalid, "ambiguous_framing", "send one Content-Length")
	case lengths > 0 && encodings > 0:
		return apperr.New(apperr.Invalid, "ambiguous_framing", "send either Content-Length or Transfer-Encoding, not both")
	}
	return nil
}

// Package httpx holds what every HTTP handler shares: the response envelope of CONTRACT §1,
// the one table that maps error codes to statuses, and request-body binding.
package httpx

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
)

// statusOf is the only place where error codes become HTTP statuses.
var statusOf = map[apperr.Code]int{
	apperr.Invalid:          fiber.StatusBadRequest,
	apperr.Unauthorized:     fiber.StatusUnauthorized,
	apperr.Forbidden:        fiber.StatusForbidden,
	apperr.NotFound:         fiber.StatusNotFound,
	apperr.Conflict:         fiber.StatusConflict,
	apperr.TooLarge:         fiber.StatusRequestEntityTooLarge,
	apperr.Unprocessable:    fiber.StatusUnprocessableEntity,
	apperr.RateLimited:      fiber.StatusTooManyRequests,
	apperr.Unavailable:      fiber.StatusServiceUnavailable,
	apperr.Internal:         fiber.StatusInternalServerError,
	apperr.UnsupportedMedia: fiber.StatusUnsupportedMediaType,
	apperr.ChecksumMismatch: 460, // tus checksum extension's "Checksum Mismatch"
}

// codeOfStatus turns Fiber's own errors (unknown route, wrong method, body too large) into our codes.
var codeOfStatus = map[int]apperr.Code{
	fiber.StatusBadRequest:            apperr.Invalid,
	fiber.StatusUnauthorized:          apperr.Unauthorized,
	fiber.StatusForbidden:             apperr.Forbidden,
	fiber.StatusNotFound:              apperr.NotFound,
	fiber.StatusMethodNotAllowed:      "method_not_allowed",
	fiber.StatusRequestEntityTooLarge: apperr.TooLarge,
	fiber.StatusUnprocessableEntity:   apperr.Unprocessable,
	fiber.StatusTooManyRequests:       apperr.RateLimited,
	fiber.StatusServiceUnavailable:    apperr.Unavailable,

	fiber.StatusUnsupportedMediaType: apperr.UnsupportedMedia,
}

// OK answers 200 with message "success" and payload's fields inside data.
func OK(c *fiber.Ctx, payload any) error { return Respond(c, fiber.StatusOK, "success", payload) }

// Respond writes {"status":"ok","data":{"message":..,"code":status, <payload fields>}}.
// payload must marshal to a JSON object (or be nil); its field order is kept.
func Respond(c *fiber.Ctx, status int, message string, payload any) error {
	body, err := envelope("ok", status, message, payload)
	if err != nil {
		return err
	}
	return sendJSON(c, status, body)
}

// OKEncoded is OK for a payload already encoded as a JSON object: it is spliced in as it is, not
// encoded (and re-validated) again.
func OKEncoded(c *fiber.Ctx, object []byte) error {
	body, err := spliceEnvelope("ok", fiber.StatusOK, "success", object)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, body)
}

// Prepared is a 200 answer built once and sent many times (a cached list): the whole envelope, and
// its gzip form for clients that accept it (the mobile app's HTTP stack does). Never modify it.
type Prepared struct {
	plain, gzipped []byte
}

// Prepare wraps object (a JSON object) in the success envelope and compresses it.
func Prepare(object []byte) (*Prepared, error) {
	body, err := spliceEnvelope("ok", fiber.StatusOK, "success", object)
	if err != nil {
		return nil, err
	}
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &Prepared{plain: body, gzipped: zb.Bytes()}, nil
}

// SendPrepared answers 200 with p, gzip-encoded when the client accepts gzip. Nothing is copied.
func SendPrepared(c *fiber.Ctx, p *Prepared) error {
	c.Status(fiber.StatusOK).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Vary(fiber.HeaderAcceptEncoding)
	if acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		c.Response().SetBodyRaw(p.gzipped)
		return nil
	}
	c.Response().SetBodyRaw(p.plain)
	return nil
}

// acceptsGzip reads Accept-Encoding well enough for real clients: gzip listed without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func envelope(state string, status int, message string, payload any) ([]byte, error) {
	if payload == nil {
		return spliceEnvelope(state, status, message, nil)
	}
	rest, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("httpx: marshal payload: %w", err)
	}
	return spliceEnvelope(state, status, message, rest)
}

// spliceEnvelope writes the envelope with object's fields (a JSON object, or nil) after message and code.
func spliceEnvelope(state string, status int, message string, object []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(64 + len(object))
	buf.WriteString(`{"status":`)
	writeJSON(&buf, state)
	buf.WriteString(`,"data":{"message":`)
	writeJSON(&buf, message)
	buf.WriteString(`,"code":`)
	buf.WriteString(strconv.Itoa(status))
	if object != nil {
		rest := bytes.TrimSpace(object)
		if len(rest) < 2 || rest[0] != '{' || rest[len(rest)-1] != '}' {
			return nil, fmt.Errorf("httpx: payload is not a JSON object")
		}
		if len(rest) > 2 {
			buf.WriteByte(',')
			buf.Write(rest[1 : len(rest)-1])
		}
	}
	buf.WriteString("}}")
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, v any) {
	b, _ := json.Marshal(v)
	buf.Write(b)
}

type errorPayload struct {
	Error      string              `json:"error"`
	Fields     []apperr.FieldError `json:"fields,omitempty"`
	RequestID  string              `json:"request_id,omitempty"`
	RetryAfter int                 `json:"retry_after,omitempty"`
}

// ErrorHandler is Fiber's error handler: every error leaves as an envelope, 5xx bodies stay generic.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, code, message := fiber.StatusInternalServerError, string(apperr.Internal), "internal error"
		var fields []apperr.FieldError
		var retryAfter int

		var ae *apperr.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &ae):
			status, code, message, fields = statusOf[ae.Code], ae.ErrorCode(), ae.Message, ae.Fields
			if status == 0 {
				status = fiber.StatusInternalServerError
			}
			if ae.RetryAfter > 0 {
				retryAfter = int(math.Ceil(ae.RetryAfter.Seconds()))
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfter))
			}
		case database.IsUnavailable(err):
			status, code, message, retryAfter = fiber.StatusServiceUnavailable, string(apperr.Unavailable), "the database is unavailable; retry shortly", 1
			c.Set(fiber.HeaderRetryAfter, "1")
		case errors.As(err, &fe):
			status, message = fe.Code, fe.Message
			if cd, ok := codeOfStatus[fe.Code]; ok {
				code = string(cd)
			} else if fe.Code < 500 {
				code = "bad_request"
			}
		}

		// A request refused before its streamed body was read (a bad token, bad 1C credentials, the
		// database down): the rest of the body must not be parsed as the next request on the connection.
		if c.Request().IsBodyStream() {
			c.Context().SetConnectionClose()
		}
		reqID := RequestID(c)
		if status >= 500 {
			if status == fiber.StatusInternalServerError {
				message = "internal error"
			}
			log.Error("request failed", "request_id", reqID, "method", c.Method(), "route", routePath(c), "status", status, "err", err)
		}
		body, mErr := envelope("error", status, message, errorPayload{Error: code, Fields: fields, RequestID: reqID, RetryAfter: retryAfter})
		if mErr != nil {
			return c.Status(fiber.StatusInternalServerError).SendString(`{"status":"error","data":{"message":"internal error","code":500,"error":"internal"}}`)
		}
		c.Status(status).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(body)
	}
}

func routePath(c *fiber.Ctx) string {
	if r := c.Route(); r != nil && r.Path != "" && r.Path != "/" {
		return r.Path
	}
	return c.Path()
}

// RequestID returns the id set by the request-id middleware.
func RequestID(c *fiber.Ctx) string {
	if v, ok := c.Locals("requestid").(string); ok {
		return v
	}
	return ""
}

// RespondError writes the error envelope for an answer decided elsewhere (the tus protocol library's
// own refusals: wrong offset, unsupported version, ...), with status and reason as it decided them.
func RespondError(c *fiber.Ctx, status int, reason, message string) error {
	body, err := envelope("error", status, message, errorPayload{Error: reason, RequestID: RequestID(c)})
	if err != nil {
		return err
	}
	c.Status(status).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(body)
}

package httpx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/bodytext"
)

// Values are the scalar fields of a request body, whatever its encoding.
type Values map[string]string

// BodyValues reads a JSON object, a url-encoded form or a multipart form into Values
// (CONTRACT §1: mobile clients send all three), as UTF-8 (bodytext: BOM skipped, a declared charset
// transcoded, undeclared invalid UTF-8 → 422 invalid_encoding). Values are copied out of Fiber's buffers.
// The body is read here, through Body, so call it only once the caller is authenticated.
func BodyValues(c *fiber.Ctx) (Values, error) { return bodyValues(c, nil) }

// StrictBodyValues is BodyValues for 1C: a JSON body's keys must be keys' exactly, each once (CONTRACT §8).
func StrictBodyValues(c *fiber.Ctx, keys *bodytext.Keys) (Values, error) { return bodyValues(c, keys) }

func bodyValues(c *fiber.Ctx, keys *bodytext.Keys) (Values, error) {
	vals := Values{}
	body, err := Body(c)
	if err != nil {
		return nil, err
	}
	rawCT := string(c.Request().Header.ContentType())
	ct := strings.ToLower(rawCT)
	switch {
	case len(bytes.TrimSpace(bodytext.StripBOM(body))) == 0:
		return vals, nil
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON) || (ct == "" && bytes.HasPrefix(bytes.TrimSpace(bodytext.StripBOM(body)), []byte("{"))):
		text, err := bodytext.JSON(body, rawCT, keys)
		if err != nil {
			return nil, err
		}
		var raw map[string]any
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, apperr.New(apperr.Invalid, "invalid_json", "request body is not a JSON object")
		}
		for k, v := range raw {
			switch t := v.(type) {
			case string:
				vals[k] = t
			case json.Number:
				vals[k] = t.String()
			case bool:
				vals[k] = strconv.FormatBool(t)
			case nil:
			default:
				b, _ := json.Marshal(t)
				vals[k] = string(b)
			}
		}
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		form, err := bodytext.Form(body, rawCT)
		if err != nil {
			return nil, err
		}
		for k, v := range form {
			vals[k] = v
		}
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		form, err := c.MultipartForm()
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "invalid_form", "request body is not a valid multipart form")
		}
		first := make(map[string]string, len(form.Value))
		for k, v := range form.Value {
			if len(v) > 0 {
				first[k] = strings.Clone(v[0])
			}
		}
		decoded, err := bodytext.Values(first, rawCT)
		if err != nil {
			return nil, err
		}
		for k, v := range decoded {
			vals[k] = v
		}
	default:
		return nil, apperr.New(apperr.Invalid, "unsupported_media_type", "send JSON, application/x-www-form-urlencoded or multipart/form-data")
	}
	return vals, nil
}

// Required returns the trimmed value of name, recording a field error when it is empty or longer than max.
func (v Values) Required(name string, max int, fields *apperr.FieldList) string {
	s := strings.TrimSpace(v[name])
	switch {
	case s == "":
		fields.Add(name, "is required")
	case len(s) > max:
		fields.Add(name, "must be at most %d characters", max)
	}
	return s
}

// Int parses name as an integer, recording a field error when it is missing or malformed.
func (v Values) Int(name string, fields *apperr.FieldList) int {
	s := strings.TrimSpace(v[name])
	if s == "" {
		fields.Add(name, "is required")
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		fields.Add(name, "must be an integer, got %q", truncate(s, 20))
		return 0
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…", s[:n])
}

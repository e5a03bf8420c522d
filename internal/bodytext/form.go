package bodytext

import (
	"bytes"
	"net/url"
	"sort"

	"github.com/forteleasing/inspections/internal/apperr"
)

// maxFormFields bounds the fields of one url-encoded body.
const maxFormFields = 256

// Form parses an application/x-www-form-urlencoded body into its fields (the first value of a repeated
// one wins, as Fiber's PostArgs did), each as UTF-8: a leading BOM is dropped, and the percent-decoded
// bytes are transcoded from a declared charset, or else must be UTF-8 (422 invalid_encoding naming the field).
func Form(body []byte, contentType string) (map[string]string, error) {
	cs, err := CharsetOf(contentType)
	if err != nil {
		return nil, err
	}
	body = StripBOM(body)
	raw := map[string][]byte{}
	var order []string
	for len(body) > 0 {
		var pair []byte
		pair, body, _ = bytes.Cut(body, []byte("&"))
		if len(pair) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(pair, []byte("="))
		key, err1 := url.QueryUnescape(string(k))
		val, err2 := url.QueryUnescape(string(v))
		if err1 != nil || err2 != nil {
			return nil, apperr.New(apperr.Invalid, "invalid_form", "the form body has a malformed %%-escape")
		}
		if _, dup := raw[key]; dup {
			continue
		}
		if len(raw) >= maxFormFields {
			return nil, apperr.New(apperr.Invalid, "invalid_form", "at most %d form fields", maxFormFields)
		}
		raw[key] = []byte(val)
		order = append(order, key)
	}
	vals := make(map[string]string, len(raw))
	for _, k := range order {
		key, err := field(cs, []byte(k), k)
		if err != nil {
			return nil, err
		}
		val, err := field(cs, raw[k], key)
		if err != nil {
			return nil, err
		}
		vals[key] = val
	}
	return vals, nil
}

// Values decodes the text fields of a multipart form the same way, by the charset of the request's
// Content-Type; it returns a new map.
func Values(in map[string]string, contentType string) (map[string]string, error) {
	cs, err := CharsetOf(contentType)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys) // name the same field first every time
	out := make(map[string]string, len(in))
	for _, k := range keys {
		key, err := field(cs, []byte(k), k)
		if err != nil {
			return nil, err
		}
		val, err := field(cs, []byte(in[k]), key)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

func field(cs Charset, b []byte, name string) (string, error) {
	if cs.UTF8() {
		b = StripBOM(b)
		if i := invalidAt(b); i >= 0 {
			return "", encodingError(sanitize(name), "is not UTF-8")
		}
		return string(b), nil
	}
	out, err := cs.Decode(b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// sanitize makes a field name that may itself be bad bytes safe to show.
func sanitize(s string) string {
	if invalidAt([]byte(s)) < 0 {
		return truncate(s, 64)
	}
	return "(a field whose name is not UTF-8)"
}

// Package bodytext turns request bodies, as 1C and the mobile platforms really send them, into UTF-8 text
// ready to parse (CONTRACT §8): a leading byte-order mark is dropped, a declared charset other than UTF-8
// (windows-1251 above all) is transcoded, and bytes that are not UTF-8 without such a declaration are
// refused with 422 invalid_encoding naming where they are, before anything is written.
//
// It works on bytes and knows nothing of Fiber: handlers (and the body readers of internal/httpx) call it
// with the body they have read and the request's Content-Type.
package bodytext

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"

	"github.com/forteleasing/inspections/internal/apperr"
)

const bomUTF8 = "\xef\xbb\xbf"

// StripBOM drops a leading UTF-8 byte-order mark (1C writes one by default when a body is set from a
// string in UTF-8).
func StripBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte(bomUTF8)) }

// Charset is how a body's bytes are to be read: nil means UTF-8.
type Charset struct {
	Name string
	enc  encoding.Encoding
}

// UTF8 reports whether the bytes are read as they are (and must then be valid UTF-8).
func (cs Charset) UTF8() bool { return cs.enc == nil }

// CharsetOf returns the charset declared in a Content-Type header value. No declaration, or a declaration
// of UTF-8 (or US-ASCII, a subset of it), means UTF-8; a name the WHATWG encoding index does not know is
// refused with 422 unsupported_charset.
func CharsetOf(contentType string) (Charset, error) {
	if contentType == "" {
		return Charset{}, nil
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// A Content-Type the mime package cannot parse still says nothing about the charset; the
		// media type itself is the caller's business.
		return Charset{}, nil
	}
	name := strings.ToLower(strings.TrimSpace(params["charset"]))
	switch name {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return Charset{}, nil
	}
	enc, err := htmlindex.Get(name)
	if err != nil {
		return Charset{}, apperr.New(apperr.Unprocessable, "unsupported_charset",
			"charset %q is not supported; send UTF-8 or declare a charset such as windows-1251", truncate(name, 40))
	}
	if canonical, _ := htmlindex.Name(enc); canonical == "utf-8" {
		return Charset{}, nil
	}
	return Charset{Name: name, enc: enc}, nil
}

// Decode returns b as UTF-8: transcoded from cs, with any byte-order mark dropped. For UTF-8 it returns
// b itself (without a BOM) and does not check it: callers check it where they can name the place.
func (cs Charset) Decode(b []byte) ([]byte, error) {
	b = StripBOM(b)
	if cs.enc == nil {
		if bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff}) {
			// An undeclared UTF-16 body announces itself with its BOM.
			return transcode(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), b)
		}
		return b, nil
	}
	return transcode(cs.enc, b)
}

func transcode(enc encoding.Encoding, b []byte) ([]byte, error) {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return nil, apperr.New(apperr.Unprocessable, "invalid_encoding", "the body is not valid in its declared charset: %v", err)
	}
	// UTF-16 decoders keep a BOM they did not consume as U+FEFF.
	return StripBOM(out), nil
}

// Text returns body as UTF-8 ready to parse, whatever charset contentType declares, and checks it: bytes
// that are not UTF-8 are an invalid_encoding error naming their byte offset (use JSON or Form to have the
// field named instead).
func Text(body []byte, contentType string) ([]byte, error) {
	cs, err := CharsetOf(contentType)
	if err != nil {
		return nil, err
	}
	out, err := cs.Decode(body)
	if err != nil {
		return nil, err
	}
	if i := invalidAt(out); i >= 0 {
		return nil, encodingError("body", fmt.Sprintf("byte %d is not UTF-8", i+bomLen(body)))
	}
	return out, nil
}

func bomLen(b []byte) int {
	if bytes.HasPrefix(b, []byte(bomUTF8)) {
		return len(bomUTF8)
	}
	return 0
}

// invalidAt is the offset of the first byte that is not part of valid UTF-8, or -1.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// encodingError is the 422 for bytes that are not UTF-8 where no other charset was declared.
func encodingError(field, detail string, index ...int) error {
	var fields apperr.FieldList
	msg := detail + "; send UTF-8, or declare the charset in Content-Type (e.g. charset=windows-1251)"
	if len(index) > 0 {
		fields.AddAt(index[0], field, "%s", msg)
	} else {
		fields.Add(field, "%s", msg)
	}
	e := apperr.Fields(apperr.Unprocessable, "the body is not valid UTF-8 and declares no other charset; nothing was written", fields)
	e.Reason = "invalid_encoding"
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

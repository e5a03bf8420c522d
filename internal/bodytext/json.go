package bodytext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/forteleasing/inspections/internal/apperr"
)

// Keys are the object keys a JSON body may carry, as a Go type's json tags name them: encoding/json
// matches keys case-insensitively, and 1C's keys must match exactly (CONTRACT §8).
type Keys struct {
	fields map[string]*Keys // nil: any object (a map or a value of no struct type)
	elem   *Keys            // the keys of a slice's or array's elements
}

var keysCache sync.Map // reflect.Type → *Keys

// KeysOf describes the keys of T (a struct, or a slice of them, nested as deep as T is).
func KeysOf[T any]() *Keys { return keysOf(reflect.TypeFor[T]()) }

func keysOf(t reflect.Type) *Keys {
	if k, ok := keysCache.Load(t); ok {
		return k.(*Keys)
	}
	k := &Keys{}
	keysCache.Store(t, k) // before the fields, so a recursive type ends
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		k.elem = keysOf(t.Elem())
	case reflect.Struct:
		k.fields = map[string]*Keys{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			k.fields[name] = keysOf(f.Type)
		}
	}
	return k
}

// JSON returns a JSON body as UTF-8 ready for encoding/json, after checking what encoding/json lets
// through: bytes that are not UTF-8 (it would turn them into U+FFFD) are 422 invalid_encoding naming the
// field they are in. With keys, also refused with 422 naming the field: a key repeated within one object
// (encoding/json keeps the last) and a key that matches a known one only when case is ignored. A body
// whose top level is an array names its items by index. Syntax errors are left to the decoder that follows.
func JSON(body []byte, contentType string, keys *Keys) ([]byte, error) {
	cs, err := CharsetOf(contentType)
	if err != nil {
		return nil, err
	}
	out, err := cs.Decode(body)
	if err != nil {
		return nil, err
	}
	if keys == nil && invalidAt(out) < 0 {
		return out, nil // nothing to look for: skip the walk
	}
	if err := walk(out, keys); err != nil {
		return nil, err
	}
	if i := invalidAt(out); i >= 0 {
		// After a syntax error the walk stops: the bytes are still named, by offset.
		return nil, encodingError("body", fmt.Sprintf("byte %d is not UTF-8", i+bomLen(body)))
	}
	return out, nil
}

// maxKeyProblems bounds the field errors of one answer.
const maxKeyProblems = 100

type frame struct {
	array bool
	keys  *Keys
	index int    // next element of an array
	key   string // current key of an object
	seen  map[string]bool
	// expectKey: in an object, the next token is a key (else its value).
	expectKey bool
}

// walk reads the token stream of b with a stack of open objects and arrays, to name where a problem is.
func walk(b []byte, keys *Keys) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []*frame
	var problems apperr.FieldList
	var prev int64
	top := keys
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // a syntax error: the decoder that follows names it
			}
			return apperr.Wrap(apperr.Invalid, err, "the body is not valid JSON")
		}
		end := dec.InputOffset()
		raw := b[prev:end]
		prev = end
		var cur *frame
		if len(stack) > 0 {
			cur = stack[len(stack)-1]
		}
		isKey := cur != nil && !cur.array && cur.expectKey
		if invalidAt(raw) >= 0 {
			idx, field := place(stack, isKey, tok)
			detail := "is not UTF-8"
			if isKey {
				detail = "this key is not UTF-8"
			}
			if idx >= 0 {
				return encodingError(field, detail, idx)
			}
			return encodingError(field, detail)
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				var k *Keys
				switch {
				case cur == nil:
					k = top
				case cur.array && cur.keys != nil:
					k = cur.keys.elem
				case !cur.array && cur.keys != nil && cur.keys.fields != nil:
					k = cur.keys.fields[cur.key]
				}
				f := &frame{array: t == '[', keys: k, expectKey: t == '{'}
				if t == '{' {
					f.seen = map[string]bool{}
				}
				stack = append(stack, f)
			case '}', ']':
				stack = stack[:len(stack)-1]
				valueDone(stack)
			}
		default:
			if isKey {
				key := t.(string)
				cur.key, cur.expectKey = key, false
				if keys == nil || len(problems) >= maxKeyProblems {
					continue
				}
				idx, field := place(stack, false, nil)
				switch {
				case cur.seen[key]:
					addAt(&problems, idx, field, "appears twice in the same object")
				case cur.keys != nil && cur.keys.fields != nil:
					if _, ok := cur.keys.fields[key]; !ok {
						for known := range cur.keys.fields {
							if strings.EqualFold(known, key) {
								addAt(&problems, idx, field, "keys are case-sensitive: this one is spelt %q", known)
								break
							}
						}
					}
				}
				cur.seen[key] = true
				continue
			}
			valueDone(stack)
		}
	}
	return problems.Err(apperr.Unprocessable, "some keys are repeated or misspelt; nothing was written")
}

// valueDone moves the innermost container past the value that just ended.
func valueDone(stack []*frame) {
	if len(stack) == 0 {
		return
	}
	f := stack[len(stack)-1]
	if f.array {
		f.index++
	} else {
		f.expectKey = true
	}
}

// place names the current position: the index of the top-level array's item (or -1) and the dotted path
// inside it.
func place(stack []*frame, pendingKey bool, tok json.Token) (int, string) {
	idx := -1
	var parts []string
	for i, f := range stack {
		switch {
		case f.array && i == 0:
			idx = f.index
		case f.array:
			parts = append(parts, strconv.Itoa(f.index))
		case i == len(stack)-1 && pendingKey:
			if s, ok := tok.(string); ok {
				parts = append(parts, strings.ToValidUTF8(s, "?"))
			}
		default:
			parts = append(parts, f.key)
		}
	}
	field := strings.Join(parts, ".")
	if field == "" {
		field = "body"
	}
	return idx, field
}

func addAt(l *apperr.FieldList, idx int, field, format string, args ...any) {
	if idx >= 0 {
		l.AddAt(idx, field, format, args...)
	} else {
		l.Add(field, format, args...)
	}
}

// Package onec is the API that ForteLeasing's 1C ERP calls with HTTP Basic credentials: batch upserts of
// companies, vehicle types, vehicles and reports (CONTRACT §5), the submissions feed and decisions.
package onec

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/bodytext"
)

// MaxBatch is the most items one upsert call may carry.
const MaxBatch = 1000

// decodeBatch reads a JSON array of at most MaxBatch items into []T, naming the index of a malformed item.
// The body is read as 1C sends it (bodytext): BOM skipped, a declared charset transcoded, invalid UTF-8,
// repeated keys and keys in the wrong case refused with 422 before anything is decoded.
func decodeBatch[T any](body []byte, contentType string) ([]T, error) {
	body, err := bodytext.JSON(body, contentType, bodytext.KeysOf[[]T]())
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, apperr.New(apperr.Invalid, "invalid_json", "the body must be a JSON array of items")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, apperr.New(apperr.Invalid, "invalid_json", "the body is not valid JSON: %s", jsonProblem(err))
	}
	if len(raw) == 0 {
		return nil, apperr.New(apperr.Invalid, "empty_batch", "the array is empty")
	}
	if len(raw) > MaxBatch {
		return nil, apperr.New(apperr.TooLarge, "batch_too_large", "at most %d items per call, got %d", MaxBatch, len(raw))
	}
	items := make([]T, len(raw))
	var fields apperr.FieldList
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&items[i]); err != nil {
			field, msg := "item", jsonProblem(err)
			var te *json.UnmarshalTypeError
			if ok := asTypeError(err, &te); ok && te.Field != "" {
				field = te.Field
			}
			if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
				field, msg = strings.Trim(f, `"`), "unknown field"
			}
			fields.AddAt(i, field, "%s", msg)
		}
	}
	if err := fields.Err(apperr.Unprocessable, "some items are malformed; nothing was written"); err != nil {
		return nil, err
	}
	return items, nil
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("must be %s, got %s", te.Type.String(), te.Value)
	}
	return err.Error()
}

// Version is 1C's data_version: a string or a number that grows with each change of an item.
type Version string

func (v *Version) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = Version(strings.TrimSpace(s))
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("data_version must be a string or a number")
	}
	*v = Version(n.String())
	return nil
}

// olderThan reports whether v is older than stored, so the item must be skipped. An empty version on
// either side never skips. The order (CONTRACT §8, README "1C"):
//   - two decimal integers compare as numbers ("9" < "10");
//   - two base64 values of the same length compare as the big-endian bytes they encode: 1C's DataVersion
//     "AAAAzwAAAAA=" (counter 0xCF) < "AAAA0AAAAAA=" (0xD0), which as text would be the other way round;
//   - anything else compares as text.
func (v Version) olderThan(stored string) bool { return compareVersions(string(v), stored) < 0 }

func compareVersions(a, b string) int {
	if a == "" || b == "" {
		return 0
	}
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmp.Compare(len(a), len(b))
		}
		return strings.Compare(a, b)
	}
	if len(a) == len(b) {
		if x, ok := decodeBase64(a); ok {
			if y, ok := decodeBase64(b); ok {
				return bytes.Compare(x, y)
			}
		}
	}
	return strings.Compare(a, b)
}

func decodeBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.Strict().DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Result is the answer of every upsert.
type Result struct {
	Upserted int `json:"upserted"`
	Skipped  int `json:"skipped"`
}

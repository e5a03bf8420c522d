package onec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apperr"
)

// FuzzDecodeBatch: any body, with any of the charsets 1C declares, either decodes to 1..MaxBatch items or
// fails as a client error (400, 413 or 422, with the item's index when it names an item) — never anything a handler would answer with 500.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`[{"ref_key":"r","report_number":"1","vehicle_guid":"v","date_start":"2022-06-08T00:00:00","date_finish":"2022-06-13T00:00:00","status_code":1}]`,
		`[{"biin":"200940026146","name":"ТОО","email":"a@b.kz","director":{"first_name":"A"},"active":true,"data_version":"AAAAAQ=="}]`,
		`[{"vehicle_guid":"v","biin":"200940026146","vehicle_type_code":"t","data_version":123}]`,
		`[]`, `{}`, `[1,2]`, `[{"status_code":"1"}]`, `[{"unknown":1}]`, `[{"data_version":{}}]`, `[` + strings.Repeat(`{},`, 3) + `{}]`, ``, `null`,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte("\xef\xbb\xbf"+s), uint8(1))
	}
	// 1C's own bodies: a BOM, windows-1251 declared or not, keys in the wrong case or twice.
	f.Add([]byte("[{\"biin\":\"200940026146\",\"name\":\"\xd2\xce\xce\"}]"), uint8(2))
	f.Add([]byte("[{\"biin\":\"200940026146\",\"name\":\"\xd2\xce\xce\"}]"), uint8(0))
	f.Add([]byte(`[{"BIIN":"200940026146","biin":"1","biin":"2"}]`), uint8(1))
	contentTypes := []string{"", "application/json; charset=utf-8", "application/json; charset=windows-1251", "application/json; charset=bogus"}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		contentType := contentTypes[int(ct)%len(contentTypes)]
		check := func(n int, err error) {
			t.Helper()
			if err == nil {
				if n < 1 || n > MaxBatch {
					t.Fatalf("decoded %d items", n)
				}
				return
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || (ae.Code != apperr.Invalid && ae.Code != apperr.Unprocessable && ae.Code != apperr.TooLarge) {
				t.Fatalf("%q: %v is not a client error", body, err)
			}
			// A problem outside any item (the top level is not an array, or the bytes cannot be read) names
			// no index; one inside an item names it.
			array := bytes.HasPrefix(bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))), []byte("["))
			for _, fe := range ae.Fields {
				if fe.Index == nil && array && ae.Reason == "" {
					t.Fatalf("%q: field error of an item without its index: %+v", body, fe)
				}
				if fe.Index != nil && *fe.Index < 0 {
					t.Fatalf("%q: negative index: %+v", body, fe)
				}
			}
		}
		r, err := decodeBatch[Report](body, contentType)
		check(len(r), err)
		c, err := decodeBatch[Company](body, contentType)
		check(len(c), err)
		v, err := decodeBatch[Vehicle](body, contentType)
		check(len(v), err)
		vt, err := decodeBatch[VehicleType](body, contentType)
		check(len(vt), err)
	})
}

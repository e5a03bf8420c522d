package onec

import (
	"errors"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apperr"
)

// FuzzDecodeBatch: any body either decodes to 1..MaxBatch items or fails as a client error (400, 413 or
// 422 with the item's index) — never anything a handler would answer with 500.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`[{"ref_key":"r","report_number":"1","vehicle_guid":"v","date_start":"2022-06-08T00:00:00","date_finish":"2022-06-13T00:00:00","status_code":1}]`,
		`[{"biin":"200940026146","name":"ТОО","email":"a@b.kz","director":{"first_name":"A"},"active":true,"data_version":"AAAAAQ=="}]`,
		`[{"vehicle_guid":"v","biin":"200940026146","vehicle_type_code":"t","data_version":123}]`,
		`[]`, `{}`, `[1,2]`, `[{"status_code":"1"}]`, `[{"unknown":1}]`, `[{"data_version":{}}]`, `[` + strings.Repeat(`{},`, 3) + `{}]`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
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
			for _, fe := range ae.Fields {
				if fe.Index == nil || *fe.Index < 0 || *fe.Index >= MaxBatch {
					t.Fatalf("%q: field error without a valid index: %+v", body, fe)
				}
			}
		}
		r, err := decodeBatch[Report](body, "")
		check(len(r), err)
		c, err := decodeBatch[Company](body, "")
		check(len(c), err)
		v, err := decodeBatch[Vehicle](body, "")
		check(len(v), err)
		vt, err := decodeBatch[VehicleType](body, "")
		check(len(vt), err)
	})
}

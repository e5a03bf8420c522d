package reports

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apperr"
)

// FuzzParseFilter: a filter either fails as a 400 naming the segment, or is one the canonical path of
// which parses back to the same filter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "null/null/null", "1/1m", "4/null/4cac2fb0-3cc2-11ea-8db2-1831bf7dd028", "NULL/1y",
		"/2/", "5", "1/2w", "1/1m/x/y", "+1/1w", "01", "null//null", strings.Repeat("a", 70)} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, rest string, withVehicle bool) {
		got, err := ParseFilter(rest, withVehicle)
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code != apperr.Invalid {
				t.Fatalf("%q: error %v is not a 400", rest, err)
			}
			return
		}
		if got.Status != 0 && statusTitles[got.Status] == "" {
			t.Fatalf("%q: status %d accepted", rest, got.Status)
		}
		if _, ok := dateRangeTitles[got.DateRange]; got.DateRange != "" && !ok {
			t.Fatalf("%q: date range %q accepted", rest, got.DateRange)
		}
		if !withVehicle && got.VehicleGUID != "" || len(got.VehicleGUID) > 64 || strings.Contains(got.VehicleGUID, "/") {
			t.Fatalf("%q: vehicle %q accepted", rest, got.VehicleGUID)
		}
		seg := func(s string) string {
			if s == "" {
				return "null"
			}
			return s
		}
		status := ""
		if got.Status != 0 {
			status = strconv.Itoa(got.Status)
		}
		canonical := seg(status) + "/" + seg(got.DateRange)
		if withVehicle {
			canonical += "/" + seg(got.VehicleGUID)
		}
		again, err := ParseFilter(canonical, withVehicle)
		if err != nil || again != got {
			t.Fatalf("%q → %+v, but its canonical path %q → %+v, %v", rest, got, canonical, again, err)
		}
	})
}

// FuzzIsMP4: the sniffer never reads past what it is given and accepts only an ftyp box of sane size
// whose brand is not a still image.
func FuzzIsMP4(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41"))
	f.Add([]byte("\x00\x00\x00\x08ftyp"))
	f.Add([]byte("\xff\xff\xff\xffftypisom"))
	f.Add([]byte("RIFF\x00\x00\x00\x00AVI "))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, head []byte) {
		if CheckVideoHead(head) != nil {
			return
		}
		size := uint32(head[0])<<24 | uint32(head[1])<<16 | uint32(head[2])<<8 | uint32(head[3])
		if len(head) < 12 || string(head[4:8]) != "ftyp" || size < 8 || size > 4096 || string(head[8:12]) == "heic" || string(head[8:12]) == "avif" {
			t.Fatalf("accepted %q", head)
		}
	})
}

package reports

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
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

// realHeads is the first 64 bytes of files ffmpeg made, with what each file is: the clips it wrote as
// MP4 (also as Android and iPhone write them), MOV and 3GP are ISO-BMFF videos the upload takes; its
// WebM, Matroska, PNG, JPEG and AVIF (a still in an ftyp box) are not.
func realHeads(tb testing.TB) map[string]bool {
	tb.Helper()
	head := func(b []byte) string { return string(b[:min(64, len(b))]) }
	heads := map[string]bool{}
	for _, style := range []mp4test.Style{mp4test.Plain, mp4test.Android, mp4test.IPhone} {
		heads[head(mp4test.Make(tb, mp4test.Spec{Style: style, Seconds: 0.5, Width: 176, Height: 144}))] = true
	}
	for ext, video := range map[string]bool{"mp4": true, "mov": true, "3gp": true,
		"webm": false, "mkv": false, "png": false, "jpg": false, "avif": false} {
		heads[head(mp4test.Sample(tb, ext))] = video
	}
	return heads
}

func TestCheckVideoHead_TakesTheVideosFfmpegMadeAndNothingElse(t *testing.T) {
	for h, video := range realHeads(t) {
		if err := CheckVideoHead([]byte(h)); (err == nil) != video {
			t.Errorf("%q: CheckVideoHead = %v, the file is a video: %v", h[:16], err, video)
		}
	}
}

// FuzzIsMP4 starts from the heads of real files and knows what each of them is. On any input: no panic;
// the answer depends on the first VideoHeadSize bytes only (reading more never changes it), shorter
// heads are refused, and a head starting with another format's signature (PNG, JPEG, EBML for
// WebM/Matroska, RIFF for AVI) is refused.
func FuzzIsMP4(f *testing.F) {
	known := realHeads(f)
	for h := range known {
		f.Add([]byte(h))
	}
	f.Add([]byte("RIFF\x00\x00\x00\x00AVI LIST"))
	f.Add([]byte{})
	signatures := []string{"\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "\x1a\x45\xdf\xa3", "RIFF"}
	f.Fuzz(func(t *testing.T, head []byte) {
		got := CheckVideoHead(head) == nil
		if video, ok := known[string(head)]; ok && got != video {
			t.Fatalf("a real file's head %q: accepted %v, the file is a video: %v", head, got, video)
		}
		if len(head) < VideoHeadSize && got {
			t.Fatalf("accepted a head of %d bytes", len(head))
		}
		for n := VideoHeadSize; n < len(head); n++ {
			if again := CheckVideoHead(head[:n]) == nil; again != got {
				t.Fatalf("%q: accepted %v, but its first %d bytes: %v", head, got, n, again)
			}
		}
		for _, sig := range signatures {
			if got && strings.HasPrefix(string(head), sig) {
				t.Fatalf("accepted a head starting with %q", sig)
			}
		}
	})
}

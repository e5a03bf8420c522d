package mp4meta_test

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/forteleasing/inspections/media/mp4meta"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

// FuzzRead starts from real files of every style ffmpeg and the box editor make (moov first and last)
// and wants the parser to end without panicking, within its read budget, whatever the bytes.
func FuzzRead(f *testing.F) {
	f.Add(append([]byte(nil), ftyp...))
	if ffmpeg, err := exec.LookPath("ffmpeg"); err == nil {
		dir := f.TempDir()
		at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
		for i, s := range []mp4test.Spec{
			{Style: mp4test.Plain, Seconds: 1, Recorded: at, Location: &almaty},
			{Style: mp4test.Plain, Seconds: 1, Faststart: true, Location: &almaty},
			{Style: mp4test.Android, Seconds: 1, Recorded: at, Location: &almaty, Clean: true},
			{Style: mp4test.IPhone, Seconds: 1, Faststart: true, Recorded: at, Location: &almaty, Make: "Apple", Model: "iPhone 14", Clean: true},
			{Style: mp4test.IPhoneUdta, Seconds: 1, Recorded: at, Location: &almaty, Make: "Apple", Software: "17.4.1"},
		} {
			b, err := mp4test.Build(ffmpeg, dir, s)
			if err != nil {
				f.Fatalf("seed %d: %v", i, err)
			}
			if len(b) > 64<<10 {
				f.Fatalf("seed %d is %d bytes: too large for a fuzz corpus", i, len(b))
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &countingReader{b: b}
		lim := mp4meta.Limits{MaxRead: 1 << 20}
		info, err := mp4meta.Read(r, int64(len(b)), lim)
		if r.bytes.Load() > lim.MaxRead+64<<10 {
			t.Fatalf("read %d bytes, budget %d", r.bytes.Load(), lim.MaxRead)
		}
		if err == nil && !bytes.HasPrefix(b[4:8], []byte("ftyp")) {
			t.Fatalf("accepted a file without ftyp: %+v", info)
		}
		if info.Location != nil && (info.Location.Lat < -90 || info.Location.Lat > 90) {
			t.Fatalf("location %+v", info.Location)
		}
	})
}

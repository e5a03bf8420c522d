package mp4meta_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/media/mp4meta"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

var almaty = mp4test.Point{Lat: 43.2380, Long: 76.9450}

// countingReader records how many bytes and calls the parser asked for.
type countingReader struct {
	b            []byte
	bytes, calls atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	r := bytes.NewReader(c.b)
	n, err := r.ReadAt(p, off)
	c.bytes.Add(int64(n))
	return n, err
}

func read(t *testing.T, b []byte) (mp4meta.Info, *countingReader) {
	t.Helper()
	r := &countingReader{b: b}
	info, err := mp4meta.Read(r, int64(len(b)), mp4meta.Limits{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return info, r
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.0005 }

func TestRead_RealFiles(t *testing.T) {
	recorded := time.Date(2026, 11, 30, 15, 4, 5, 0, time.FixedZone("UTC+5", 5*3600))
	for _, faststart := range []bool{false, true} {
		name := "moov after mdat"
		if faststart {
			name = "faststart"
		}
		t.Run(name, func(t *testing.T) {
			t.Run("ffmpeg plain: loci, creation time, Lavf/Lavc/x264 traces", func(t *testing.T) {
				b := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 3, Faststart: faststart, Recorded: recorded, Location: &almaty})
				info, _ := read(t, b)
				if info.Duration != 3*time.Second || info.Width != 320 || info.Height != 240 {
					t.Errorf("duration %s, size %dx%d; want 3s 320x240", info.Duration, info.Width, info.Height)
				}
				if !info.Created.Equal(recorded) {
					t.Errorf("created %s, want %s", info.Created, recorded)
				}
				if info.Location == nil || info.Location.Source != "loci" || !near(info.Location.Lat, almaty.Lat) || !near(info.Location.Long, almaty.Long) {
					t.Errorf("location %+v, want loci at %+v", info.Location, almaty)
				}
				joined := strings.Join(info.Encoders, "|")
				for _, want := range []string{"Lavf", "Lavc", "libx264", "x264 - core"} {
					if !strings.Contains(joined, want) {
						t.Errorf("encoders %q lack %q", info.Encoders, want)
					}
				}
			})
			t.Run("android: mvhd time and udta/©xyz, no traces", func(t *testing.T) {
				b := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Faststart: faststart, Recorded: recorded, Location: &almaty, Clean: true})
				if tr := mp4test.Traces(b); len(tr) != 0 {
					t.Fatalf("the clean file still holds %q", tr)
				}
				info, _ := read(t, b)
				if !info.Created.Equal(recorded) || info.Duration != 4*time.Second {
					t.Errorf("created %s duration %s", info.Created, info.Duration)
				}
				if info.Location == nil || info.Location.Source != "©xyz" || !near(info.Location.Lat, almaty.Lat) || !near(info.Location.Long, almaty.Long) {
					t.Errorf("location %+v, want ©xyz at %+v", info.Location, almaty)
				}
				if len(info.Encoders) != 0 || info.Software != "" {
					t.Errorf("encoders %q software %q, want none", info.Encoders, info.Software)
				}
			})
			for _, style := range []mp4test.Style{mp4test.IPhone, mp4test.IPhoneUdta} {
				where := map[mp4test.Style]string{mp4test.IPhone: "moov/meta", mp4test.IPhoneUdta: "moov/udta/meta"}[style]
				t.Run("iphone keys in "+where, func(t *testing.T) {
					b := mp4test.Make(t, mp4test.Spec{Style: style, Faststart: faststart, Recorded: recorded, Location: &almaty,
						Make: "Apple", Model: "iPhone 14 Pro", Software: "17.4.1", Clean: true})
					if tr := mp4test.Traces(b); len(tr) != 0 {
						t.Fatalf("the clean file still holds %q", tr)
					}
					checkMetaPlace(t, b, style == mp4test.IPhone)
					info, _ := read(t, b)
					if info.Make != "Apple" || info.Model != "iPhone 14 Pro" || info.Software != "17.4.1" {
						t.Errorf("make %q model %q software %q", info.Make, info.Model, info.Software)
					}
					if !info.CreationDate.Equal(recorded) {
						t.Errorf("creationdate %s, want %s", info.CreationDate, recorded)
					}
					if at, ok := info.RecordedAt(); !ok || !at.Equal(recorded) {
						t.Errorf("recorded at %s %v", at, ok)
					}
					if info.Location == nil || info.Location.Source != "com.apple.quicktime.location.ISO6709" || !near(info.Location.Lat, almaty.Lat) {
						t.Errorf("location %+v", info.Location)
					}
					if len(info.Encoders) != 0 {
						t.Errorf("encoders %q, want none", info.Encoders)
					}
				})
			}
			t.Run("no capture metadata", func(t *testing.T) {
				b := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Faststart: faststart, Clean: true})
				info, _ := read(t, b)
				if _, ok := info.RecordedAt(); ok || info.Location != nil {
					t.Errorf("recorded %v location %+v, want neither", info.Created, info.Location)
				}
				if len(info.Encoders) != 0 {
					t.Errorf("encoders %q", info.Encoders)
				}
			})
		})
	}
}

// checkMetaPlace proves the test file has its keys where a real iPhone (moov/meta, no version and
// flags) or ffmpeg (moov/udta/meta, a full box) puts them.
func checkMetaPlace(t *testing.T, b []byte, iphone bool) {
	t.Helper()
	boxes, err := mp4test.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var moov *mp4test.Box
	for _, bx := range boxes {
		if bx.Type == "moov" {
			moov = bx
		}
	}
	direct := moov.Child("meta")
	var inUdta *mp4test.Box
	if u := moov.Child("udta"); u != nil {
		inUdta = u.Child("meta")
	}
	switch {
	case iphone && (direct == nil || direct.Prefix != nil || inUdta != nil):
		t.Fatalf("want the keys in moov/meta without version and flags; moov/meta %v, udta/meta %v", direct != nil, inUdta != nil)
	case !iphone && (direct != nil || inUdta == nil):
		t.Fatalf("want the keys in moov/udta/meta; moov/meta %v, udta/meta %v", direct != nil, inUdta != nil)
	}
}

// TestRead_ReadsOnlyMetadata proves a long file is read in a few ranged reads of its metadata, with
// moov at either end, never its media data.
func TestRead_ReadsOnlyMetadata(t *testing.T) {
	for _, faststart := range []bool{false, true} {
		b := mp4test.Make(t, mp4test.Spec{Seconds: 40, Faststart: faststart})
		info, r := read(t, b)
		if info.Duration != 40*time.Second {
			t.Fatalf("duration %s", info.Duration)
		}
		// The cache chunk is 64 KiB; the moov and one probe of the first sample fit in a few of them.
		if got := r.bytes.Load(); got > 160<<10 || got*2 > int64(len(b)) {
			t.Errorf("faststart=%v: read %d of %d bytes", faststart, got, len(b))
		}
		if got := r.calls.Load(); got > 8 {
			t.Errorf("faststart=%v: %d reads, want a handful", faststart, got)
		}
		t.Logf("faststart=%v: %d bytes in %d reads of a %d-byte file", faststart, r.bytes.Load(), r.calls.Load(), len(b))
	}
}

func box(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(binary.BigEndian.AppendUint32(nil, uint32(8+len(b))), append([]byte(typ), b...)...)
}

var ftyp = box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2"))

// TestRead_RefusesHostileBoxes feeds boxes built to make a parser loop, recurse, allocate or read
// without end, and wants a typed refusal within bounded time and memory.
func TestRead_RefusesHostileBoxes(t *testing.T) {
	deep := box("mvhd", make([]byte, 100))
	for range 200 {
		deep = box("mdia", deep)
	}
	deep = box("trak", deep)
	manyBoxes := bytes.Repeat(box("free"), 10000)
	huge64 := append(binary.BigEndian.AppendUint32(nil, 1), "moov"...)
	huge64 = binary.BigEndian.AppendUint64(huge64, math.MaxUint64-1)
	bigMeta := box("moov", box("meta", make([]byte, 2<<20)))
	// Size 0 means "to the end of the parent": each box swallows the rest, 200 levels down.
	zeroDeep := box("mvhd", make([]byte, 100))
	for range 200 {
		zeroDeep = append(binary.BigEndian.AppendUint32(nil, 0), append([]byte("mdia"), zeroDeep...)...)
	}
	zeroDeep = box("trak", zeroDeep)
	// Counts that claim four billion entries over a few bytes.
	keys := binary.BigEndian.AppendUint32(make([]byte, 4), math.MaxUint32)
	keys = append(keys, box("mdta", []byte("com.apple.quicktime.make"))...)
	countBomb := box("moov", box("meta", box("hdlr", make([]byte, 24)), box("keys", keys), box("ilst", box("\x00\x00\x00\x01", box("data", make([]byte, 8))))),
		box("trak", box("mdia", box("minf", box("stbl", box("stsd", binary.BigEndian.AppendUint32(make([]byte, 4), math.MaxUint32)))))))
	cases := []struct {
		name   string
		file   []byte
		size   int64 // declared size when it differs from the bytes (a sparse, huge object)
		want   error
		accept bool // read without error: the bounds, not a refusal, are what is checked
	}{
		{"not mp4", []byte("RIFF\x00\x00\x00\x00AVI LIST"), 0, mp4meta.ErrNotMP4, false},
		{"empty", nil, 0, mp4meta.ErrNotMP4, false},
		{"no moov", append(ftyp, box("mdat", make([]byte, 100))...), 0, mp4meta.ErrNoMoov, false},
		{"box larger than the file", append(ftyp, append(binary.BigEndian.AppendUint32(nil, 1<<30), "moov"...)...), 0, mp4meta.ErrMalformed, false},
		{"64-bit size near 2^64", append(ftyp, huge64...), 0, mp4meta.ErrMalformed, false},
		{"size smaller than its header", append(ftyp, append(binary.BigEndian.AppendUint32(nil, 4), "moov"...)...), 0, mp4meta.ErrMalformed, false},
		{"child overruns its parent", append(ftyp, box("moov", append(binary.BigEndian.AppendUint32(nil, 64), "trak"...))...), 0, mp4meta.ErrMalformed, false},
		{"nesting 200 deep", append(ftyp, box("moov", deep)...), 0, mp4meta.ErrLimit, false},
		{"ten thousand boxes", append(ftyp, box("moov", manyBoxes)...), 0, mp4meta.ErrLimit, false},
		{"2 MiB meta box", append(ftyp, bigMeta...), 0, mp4meta.ErrLimit, false},
		{"size 0 nested 200 deep", append(ftyp, box("moov", zeroDeep)...), 0, mp4meta.ErrLimit, false},
		{"entry counts of 2^32 over a few bytes", append(ftyp, countBomb...), 0, nil, true},
		{"mdat of 1 TiB before moov, object truncated", append(ftyp, append(binary.BigEndian.AppendUint32(nil, 1), append([]byte("mdat"), binary.BigEndian.AppendUint64(nil, 1<<40)...)...)...), 1 << 41, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := c.size
			if size == 0 {
				size = int64(len(c.file))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			r := &countingReader{b: c.file}
			_, err := mp4meta.Read(r, size, mp4meta.Limits{})
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if c.accept && err != nil {
				t.Fatalf("err %v, want the file read within its bounds", err)
			}
			if c.want == nil && !c.accept && err == nil {
				t.Fatal("a file whose moov is missing past its mdat was accepted")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
			if r.bytes.Load() > 5<<20 {
				t.Errorf("read %d bytes", r.bytes.Load())
			}
			t.Logf("%v in %s, %d bytes read", err, elapsed, r.bytes.Load())
		})
	}
}

func TestParseISO6709(t *testing.T) {
	for _, c := range []struct {
		in        string
		lat, long float64
		ok        bool
	}{
		{"+43.2380+076.9450+000.000/", 43.2380, 76.9450, true},
		{"+37.4219-122.0840/", 37.4219, -122.0840, true},
		{"-33.8688+151.2093", -33.8688, 151.2093, true},
		{"+4314.28+07656.70/", 43 + 14.28/60, 76 + 56.70/60, true},
		{"+431417+0765642/", 43 + 14.0/60 + 17.0/3600, 76 + 56.0/60 + 42.0/3600, true},
		{"+91.0000+076.9450/", 0, 0, false},
		{"+43.2380", 0, 0, false},
		{"43.2380,76.9450", 0, 0, false},
		{"+00.0000+000.0000/", 0, 0, false},
		{"", 0, 0, false},
		{"+4x.2+076.9/", 0, 0, false},
	} {
		lat, long, ok := mp4meta.ParseISO6709(c.in)
		if ok != c.ok || (ok && (!near(lat, c.lat) || !near(long, c.long))) {
			t.Errorf("%q: %v %v %v, want %v %v %v", c.in, lat, long, ok, c.lat, c.long, c.ok)
		}
	}
}

// failingReader serves the first ok bytes of b and then fails, as a store that goes down mid-read.
type failingReader struct {
	b   []byte
	ok  int64
	err error
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.ok {
		return 0, f.err
	}
	return bytes.NewReader(f.b).ReadAt(p, off)
}

// TestRead_ReaderFailureIsNotAFinding: when the reader fails (the object store is down or hung), at the
// first read or in the middle of the walk (the x264 note in the first sample, read last), Read returns
// that error, told apart from what the bytes say, so that the analysis tries again instead of
// recording "no metadata".
func TestRead_ReaderFailureIsNotAFinding(t *testing.T) {
	b := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 10, Recorded: time.Now(), Location: &almaty})
	down := errors.New("media: store unavailable")
	for _, ok := range []int64{0, 64 << 10, int64(len(b)) - 64} { // the first read, the moov at the end, the last bytes
		_, err := mp4meta.Read(failingReader{b: b, ok: ok, err: down}, int64(len(b)), mp4meta.Limits{})
		if !errors.Is(err, down) || !mp4meta.ReaderFailed(err) {
			t.Errorf("reader failing after %d bytes: err %v, want the reader's error", ok, err)
		}
	}
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"not mp4", []byte("RIFF\x00\x00\x00\x00AVI LIST")},
		{"too short", []byte("ftyp")},
		{"truncated moov", append(ftyp, box("moov", box("mvhd", make([]byte, 100)))[:40]...)},
	} {
		_, err := mp4meta.Read(bytes.NewReader(c.file), int64(len(c.file)), mp4meta.Limits{})
		if err == nil || mp4meta.ReaderFailed(err) {
			t.Errorf("%s: err %v, want a finding about the bytes", c.name, err)
		}
	}
}

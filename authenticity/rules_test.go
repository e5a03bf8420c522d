package authenticity

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/media/mp4meta"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

var almaty = mp4test.Point{Lat: 43.2380, Long: 76.9450}

// offset moves a point north by about m metres.
func offset(p mp4test.Point, m float64) mp4test.Point {
	return mp4test.Point{Lat: p.Lat + m/111195, Long: p.Long}
}

func fileFrom(t *testing.T, s mp4test.Spec) File {
	t.Helper()
	b := mp4test.Make(t, s)
	info, err := mp4meta.Read(bytes.NewReader(b), int64(len(b)), mp4meta.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return fileOf(info)
}

func codes(rs []Reason) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

// TestEvaluate_RealFiles proves each reason on files ffmpeg made: it fires when it should, and a clean
// phone-like file with matching facts passes.
func TestEvaluate_RealFiles(t *testing.T) {
	sent := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	start := sent.Add(-24 * time.Hour)
	cfg := DefaultConfig()
	android := func(recorded time.Time, at mp4test.Point, secs float64) File {
		f := fileFrom(t, mp4test.Spec{Style: mp4test.Android, Seconds: secs, Recorded: recorded, Location: &at, Clean: true})
		if f.LocationBy != "©xyz" {
			t.Fatalf("android file: location from %q", f.LocationBy)
		}
		return f
	}
	clean := android(sent.Add(-time.Hour), almaty, 10)
	base := func(f File) Input {
		prior := int64(50000)
		odo := int64(50500)
		return Input{File: f, SHA256: "ab", Lat: almaty.Lat, Long: almaty.Long, TimeSent: sent, ReceivedAt: sent.Add(2 * time.Minute),
			DateStart: start, Instructions: 3, Odometer: &odo, PriorOdometer: &prior, PriorRefKey: "r-old",
			VIN: &VINFacts{Status: "match", VINExpected: "X", VINFound: "X"}}
	}
	iphone := func(recorded time.Time, at mp4test.Point, clean bool) File {
		return fileFrom(t, mp4test.Spec{Style: mp4test.IPhone, Seconds: 10, Faststart: true, Recorded: recorded.In(kz), Location: &at,
			Make: "Apple", Model: "iPhone 14", Software: "17.4.1", Clean: clean})
	}
	cleanIPhone := iphone(sent.Add(-3*time.Hour), offset(almaty, 300), true)
	plainFF := fileFrom(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 10, Recorded: sent.Add(-time.Hour), Location: &almaty})
	bare := fileFrom(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 10, Clean: true})
	short := android(sent.Add(-time.Hour), almaty, 4)
	yes, no := true, false

	cases := []struct {
		name string
		in   func() Input
		want []string
	}{
		{"clean android file, facts agree: pass", func() Input { return base(clean) }, nil},
		{"clean iphone file (moov/meta), 300 m off: pass", func() Input { return base(cleanIPhone) }, nil},
		{"same content uploaded for another report", func() Input { in := base(clean); in.Duplicates = []string{"r-2"}; return in }, []string{ReasonDuplicateVideo}},
		{"recorded before the task started", func() Input {
			in := base(android(start.Add(-2*time.Hour), almaty, 10))
			return in
		}, []string{ReasonRecordedBeforeTask}},
		{"recorded 49 h before sending", func() Input {
			in := base(android(sent.Add(-49*time.Hour), almaty, 10))
			in.DateStart = sent.Add(-72 * time.Hour)
			return in
		}, []string{ReasonRecordedLongBeforeSent}},
		{"recorded 47 h before sending: no reason", func() Input {
			in := base(android(sent.Add(-47*time.Hour), almaty, 10))
			in.DateStart = sent.Add(-72 * time.Hour)
			return in
		}, nil},
		{"android GPS 1.5 km from the GPS sent", func() Input { return base(android(sent.Add(-time.Hour), offset(almaty, 1500), 10)) }, []string{ReasonLocationMismatch}},
		{"android GPS 900 m from the GPS sent: no reason", func() Input { return base(android(sent.Add(-time.Hour), offset(almaty, 900), 10)) }, nil},
		{"iphone GPS 5 km off (ISO 6709 key)", func() Input { return base(iphone(sent.Add(-time.Hour), offset(almaty, 5000), true)) }, []string{ReasonLocationMismatch}},
		{"neither time nor place in the file", func() Input { return base(bare) }, []string{ReasonNoCaptureMetadata}},
		{"ffmpeg's own output: Lavf, Lavc, x264", func() Input { return base(plainFF) }, []string{ReasonEditedVideo}},
		{"iphone keys with ffmpeg's traces left", func() Input { return base(iphone(sent.Add(-time.Hour), almaty, false)) }, []string{ReasonEditedVideo}},
		{"4 s for 3 instructions", func() Input { return base(short) }, []string{ReasonTooShort}},
		{"4 s for 1 instruction: no reason", func() Input { in := base(short); in.Instructions = 1; return in }, nil},
		{"odometer below the vehicle's earlier reading", func() Input { in := base(clean); km := int64(49000); in.Odometer = &km; return in }, []string{ReasonOdometerRollback}},
		{"the registry says is_breaking", func() Input { in := base(clean); in.VIN.IsBreaking = &yes; return in }, []string{ReasonOdometerRollback}},
		{"the registry says not breaking: no reason", func() Input { in := base(clean); in.VIN.IsBreaking = &no; return in }, nil},
		{"the VIN check found another VIN", func() Input { in := base(clean); in.VIN.Status = "mismatch"; in.VIN.VINFound = "Y"; return in }, []string{ReasonVINMismatch}},
		{"VIN check pending: no VIN reason", func() Input { in := base(clean); in.VIN = nil; return in }, nil},
		{"phone clock 20 min behind the server", func() Input { in := base(clean); in.ReceivedAt = sent.Add(20 * time.Minute); return in }, []string{ReasonClockSkew}},
		{"phone clock 20 min ahead of the server", func() Input { in := base(clean); in.ReceivedAt = sent.Add(-20 * time.Minute); return in }, []string{ReasonClockSkew}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := cfg.Evaluate(c.in())
			if !slices.Equal(codes(got), append([]string{}, c.want...)) {
				t.Fatalf("reasons %v, want %v: %+v", codes(got), c.want, got)
			}
			for _, r := range got {
				if r.Message == "" || !strings.ContainsAny(r.Message, "абвгдеёжзийклмнопрстуфхцчшщыьэюя") || r.Facts == nil {
					t.Errorf("%s: message %q facts %v", r.Code, r.Message, r.Facts)
				}
				if want := defaultLevels[r.Code]; want != "" && r.Level != want || want == "" && r.Level != LevelWarn {
					t.Errorf("%s: level %s", r.Code, r.Level)
				}
			}
			want := VerdictPass
			for _, code := range c.want {
				if defaultLevels[code] == LevelFail {
					want = VerdictFail
				} else if want != VerdictFail {
					want = VerdictWarn
				}
			}
			if v := VerdictOf(got); v != want {
				t.Errorf("verdict %s, want %s", v, want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"FL_AUTHENTICITY_MAX_RECORDING_AGE": "72h", "FL_AUTHENTICITY_MAX_DISTANCE_M": "250",
		"FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION": "5", "FL_AUTHENTICITY_MAX_CLOCK_SKEW": "5m",
		"FL_AUTHENTICITY_EDITORS": "Foo, Bar", "FL_AUTHENTICITY_LEVELS": "edited_video=fail, clock_skew=off",
	}
	c, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxRecordingAge != 72*time.Hour || c.MaxDistanceM != 250 || c.SecondsPerInstruction != 5 || c.MaxClockSkew != 5*time.Minute ||
		!slices.Equal(c.Editors, []string{"Foo", "Bar"}) || c.level(ReasonEditedVideo) != LevelFail || c.level(ReasonClockSkew) != LevelOff ||
		c.level(ReasonVINMismatch) != LevelFail || c.level(ReasonTooShort) != LevelWarn || c.ReviewLinkTTL != time.Hour {
		t.Fatalf("config %+v", c)
	}
	sent := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	got := c.Evaluate(Input{File: File{Read: true, Duration: 60, Software: "Foo 2"}, TimeSent: sent, ReceivedAt: sent.Add(time.Hour)})
	if !slices.Equal(codes(got), []string{ReasonNoCaptureMetadata, ReasonEditedVideo}) || VerdictOf(got) != VerdictFail {
		t.Fatalf("reasons %+v", got)
	}
	for _, bad := range []map[string]string{
		{"FL_AUTHENTICITY_MAX_DISTANCE_M": "-1"}, {"FL_AUTHENTICITY_MAX_CLOCK_SKEW": "soon"},
		{"FL_AUTHENTICITY_LEVELS": "made_up=fail"}, {"FL_AUTHENTICITY_LEVELS": "too_short=maybe"},
	} {
		if _, err := LoadConfig(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestEditorsMatchWords(t *testing.T) {
	c := DefaultConfig()
	for in, want := range map[string]bool{
		"Lavf59.27.100": true, "Lavc59.37.100 libx264": true, "HandBrake 1.6.1 2023012300": true, "CapCut": true,
		"Adobe Premiere Pro 2024": true, "17.4.1": false, "Android 14": false, "Vital Signs Recorder": false, "": false,
	} {
		if got := len(c.editors(File{Software: in})) > 0; got != want {
			t.Errorf("%q: edited %v, want %v", in, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	// Almaty to Astana is about 970 km along the great circle.
	if d := Distance(43.2380, 76.9450, 51.1605, 71.4704); d < 960e3 || d > 980e3 {
		t.Fatalf("distance %f", d)
	}
	if d := Distance(43.2380, 76.9450, 43.2380+1000.0/111195, 76.9450); d < 995 || d > 1005 {
		t.Fatalf("1 km north: %f", d)
	}
}

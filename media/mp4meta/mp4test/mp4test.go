// Package mp4test makes real MP4 files for tests with ffmpeg, then edits their boxes the way phones
// write them (an iPhone's moov/meta, Android's udta/©xyz), so tests run on files no code here wrote.
package mp4test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/testenv"
)

// RequireFFmpeg returns ffmpeg's path, or skips the test saying why (.ci/run installs it).
func RequireFFmpeg(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		testenv.Missing(t, "ffmpeg is not installed (apt-get install ffmpeg; .ci/run does): real-file test skipped")
	}
	return p
}

// Style is the kind of phone (or tool) a file imitates.
type Style int

const (
	// Plain is ffmpeg's own output: Lavf and Lavc tags, x264's note, creation time and loci if given.
	Plain Style = iota
	// Android: mvhd's creation time and a udta/©xyz location box as Android's camera writes them.
	Android
	// IPhone: QuickTime mdta keys (com.apple.quicktime.*) in moov/meta, as an iPhone writes them.
	IPhone
	// IPhoneUdta: the same keys where ffmpeg's -movflags use_metadata_tags leaves them, moov/udta/meta.
	IPhoneUdta
)

// Point is a place in decimal degrees.
type Point struct{ Lat, Long float64 }

// Spec describes one file.
type Spec struct {
	Style     Style
	Seconds   float64 // default 4
	Width     int     // default 320
	Height    int     // default 240
	Faststart bool    // moov before mdat
	Recorded  time.Time
	Location  *Point
	Make      string
	Model     string
	Software  string
	// Clean removes every ffmpeg trace: the Lavf tag (-fflags +bitexact), x264's note in the stream
	// (filter_units) and the compressor name (patched here), as a phone's hardware encoder leaves it.
	Clean bool
	// Seed varies the picture, so that two files differ in their bytes and SHA-256.
	Seed int
}

// Make encodes a file to spec and returns its bytes.
func Make(t testing.TB, s Spec) []byte {
	t.Helper()
	b, err := Build(RequireFFmpeg(t), t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Build encodes a file to spec in dir with the ffmpeg at path.
func Build(ffmpeg, dir string, s Spec) ([]byte, error) {
	if s.Seconds == 0 {
		s.Seconds = 4
	}
	if s.Width == 0 {
		s.Width, s.Height = 320, 240
	}
	out := filepath.Join(dir, fmt.Sprintf("video-%d-%d.mp4", s.Style, time.Now().UnixNano()))
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc=size=%dx%d:rate=10", s.Width, s.Height), "-t", strconv.FormatFloat(s.Seconds, 'f', 3, 64),
		"-vf", fmt.Sprintf("hue=h=%d", s.Seed%360), "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p"}
	if s.Clean {
		args = append(args, "-fflags", "+bitexact", "-flags:v", "+bitexact", "-bsf:v", "filter_units=remove_types=6")
	}
	if !s.Recorded.IsZero() && s.Style != IPhone && s.Style != IPhoneUdta {
		args = append(args, "-metadata", "creation_time="+s.Recorded.UTC().Format("2006-01-02T15:04:05Z"))
	}
	flags := ""
	if s.Faststart {
		flags += "+faststart"
	}
	switch s.Style {
	case Plain:
		if s.Location != nil {
			args = append(args, "-metadata", "location="+ISO6709(*s.Location))
		}
	case IPhone, IPhoneUdta:
		flags += "+use_metadata_tags"
		tag := func(k, v string) {
			if v != "" {
				args = append(args, "-metadata", "com.apple.quicktime."+k+"="+v)
			}
		}
		if s.Location != nil {
			tag("location.ISO6709", ISO6709(*s.Location)+"+000.000/")
		}
		tag("make", s.Make)
		tag("model", s.Model)
		tag("software", s.Software)
		if !s.Recorded.IsZero() {
			tag("creationdate", s.Recorded.Format("2006-01-02T15:04:05-0700"))
		}
	}
	if flags != "" {
		args = append(args, "-movflags", flags)
	}
	args = append(args, out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if msg, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return edit(b, s)
}

// edit moves and patches boxes after ffmpeg, keeping the chunk offsets right when moov grows or shrinks
// in front of mdat.
func edit(b []byte, s Spec) ([]byte, error) {
	if s.Style == Plain && !s.Clean {
		return b, nil
	}
	return Rewrite(b, func(moov *Box) error {
		switch s.Style {
		case Android:
			moov.Remove("udta")
			if s.Location != nil {
				// Android's MPEG4Writer: 16-bit length, language 0x15c7, "+37.4219-122.0840/".
				text := ISO6709(*s.Location) + "/"
				body := binary.BigEndian.AppendUint16(nil, uint16(len(text)))
				body = binary.BigEndian.AppendUint16(body, 0x15c7)
				moov.Children = append(moov.Children, &Box{Type: "udta", Children: []*Box{{Type: "\xa9xyz", Data: append(body, text...)}}})
			}
		case IPhone:
			udta := moov.Child("udta")
			if udta == nil || udta.Child("meta") == nil {
				return errors.New("mp4test: ffmpeg wrote no udta/meta")
			}
			meta := udta.Child("meta")
			udta.Remove("meta")
			if len(udta.Children) == 0 {
				moov.Remove("udta")
			}
			meta.Prefix = nil // QuickTime's meta, as an iPhone writes it, has no version and flags
			moov.Children = append(moov.Children, meta)
		}
		if s.Clean {
			for _, stsd := range moov.FindAll("stsd") {
				clearCompressorName(stsd)
			}
		}
		if !s.Recorded.IsZero() {
			setCreationTime(moov, s.Recorded)
		}
		return nil
	})
}

// ISO6709 spells a point as phones do: "+43.2380+076.9450".
func ISO6709(p Point) string {
	return fmt.Sprintf("%+08.4f%+09.4f", p.Lat, p.Long)
}

// Box is one ISO-BMFF box of a file being edited: a leaf with Data, or a container with Children
// (and, for a full-box container such as ffmpeg's meta, its version and flags in Prefix).
type Box struct {
	Type     string
	Prefix   []byte
	Data     []byte
	Children []*Box
}

var containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true,
	"udta": true, "edts": true, "dinf": true, "meta": true, "ilst": true}

// Parse splits b into boxes, opening the containers metadata lives in.
func Parse(b []byte) ([]*Box, error) {
	var out []*Box
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("mp4test: %d stray bytes", len(b))
		}
		size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		if size == 1 {
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size == 0 {
			size = uint64(len(b))
		}
		if size < hdr || size > uint64(len(b)) {
			return nil, fmt.Errorf("mp4test: box %q of size %d in %d bytes", b[4:8], size, len(b))
		}
		bx := &Box{Type: string(b[4:8])}
		body := b[hdr:size]
		if containers[bx.Type] {
			if bx.Type == "meta" && len(body) >= 12 && string(body[4:8]) != "hdlr" {
				bx.Prefix, body = bytes.Clone(body[:4]), body[4:]
			}
			kids, err := Parse(body)
			if err != nil {
				return nil, err
			}
			bx.Children = kids
		} else {
			bx.Data = bytes.Clone(body)
		}
		out = append(out, bx)
		b = b[size:]
	}
	return out, nil
}

// Bytes writes boxes back, each with a 32-bit size.
func Bytes(boxes []*Box) []byte {
	var out []byte
	for _, b := range boxes {
		body := b.Data
		if b.Children != nil || b.Prefix != nil {
			body = append(bytes.Clone(b.Prefix), Bytes(b.Children)...)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(8+len(body)))
		out = append(out, b.Type...)
		out = append(out, body...)
	}
	return out
}

// Child is the first direct child of type typ, or nil.
func (b *Box) Child(typ string) *Box {
	for _, c := range b.Children {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

// Remove drops the direct children of type typ.
func (b *Box) Remove(typ string) {
	kept := b.Children[:0]
	for _, c := range b.Children {
		if c.Type != typ {
			kept = append(kept, c)
		}
	}
	b.Children = kept
}

// FindAll lists every box of type typ below b.
func (b *Box) FindAll(typ string) []*Box {
	var out []*Box
	for _, c := range b.Children {
		if c.Type == typ {
			out = append(out, c)
		}
		out = append(out, c.FindAll(typ)...)
	}
	return out
}

// Rewrite parses a file, lets edit change its moov, and writes it back. When moov lies before mdat and
// changes size, every chunk offset (stco, co64) is moved by the difference.
func Rewrite(file []byte, edit func(moov *Box) error) ([]byte, error) {
	boxes, err := Parse(file)
	if err != nil {
		return nil, err
	}
	moovAt, mdatAt := -1, -1
	for i, b := range boxes {
		switch b.Type {
		case "moov":
			moovAt = i
		case "mdat":
			if mdatAt < 0 {
				mdatAt = i
			}
		}
	}
	if moovAt < 0 {
		return nil, errors.New("mp4test: no moov")
	}
	moov := boxes[moovAt]
	before := len(Bytes([]*Box{moov}))
	if err := edit(moov); err != nil {
		return nil, err
	}
	if delta := len(Bytes([]*Box{moov})) - before; delta != 0 && mdatAt > moovAt {
		for _, c := range moov.FindAll("stco") {
			shiftOffsets(c, 4, int64(delta))
		}
		for _, c := range moov.FindAll("co64") {
			shiftOffsets(c, 8, int64(delta))
		}
	}
	return Bytes(boxes), nil
}

func shiftOffsets(b *Box, width int, delta int64) {
	n := int(binary.BigEndian.Uint32(b.Data[4:]))
	for i := range n {
		at := 8 + i*width
		if width == 4 {
			binary.BigEndian.PutUint32(b.Data[at:], uint32(int64(binary.BigEndian.Uint32(b.Data[at:]))+delta))
		} else {
			binary.BigEndian.PutUint64(b.Data[at:], uint64(int64(binary.BigEndian.Uint64(b.Data[at:]))+delta))
		}
	}
}

// clearCompressorName blanks the visual sample entries' compressor name ("Lavc libx264").
func clearCompressorName(stsd *Box) {
	const at = 8 + 8 + 42 // version/flags and count, the entry's size and format, fields before the name
	if len(stsd.Data) >= at+32 {
		clear(stsd.Data[at : at+32])
	}
}

// setCreationTime writes t into mvhd, as a phone's recorder does (seconds since 1904).
func setCreationTime(moov *Box, t time.Time) {
	mvhd := moov.Child("mvhd")
	if mvhd == nil || len(mvhd.Data) < 12 || mvhd.Data[0] != 0 {
		return
	}
	secs := uint32(t.Unix() + 2082844800)
	binary.BigEndian.PutUint32(mvhd.Data[4:], secs)
	binary.BigEndian.PutUint32(mvhd.Data[8:], secs)
}

// Traces lists the ffmpeg traces left anywhere in a file's bytes, so a test can prove a "clean" file is clean.
func Traces(b []byte) []string {
	var out []string
	for _, s := range []string{"Lavf", "Lavc", "libx264", "x264 - core"} {
		if bytes.Contains(b, []byte(s)) {
			out = append(out, s)
		}
	}
	return out
}

// Sample encodes a short clip (one still for png, jpg and avif) with ffmpeg into the container its
// extension names: mp4, mov, 3gp, mkv, webm, png, jpg or avif. Tests use it as the truth of what a
// file of that format looks like, rather than bytes written by hand.
func Sample(t testing.TB, ext string) []byte {
	t.Helper()
	ffmpeg := RequireFFmpeg(t)
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=176x144:rate=10"}
	switch ext {
	case "mp4", "mov", "3gp", "mkv":
		args = append(args, "-t", "0.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	case "webm":
		args = append(args, "-t", "0.5", "-c:v", "libvpx", "-deadline", "realtime")
	case "png", "jpg":
		args = append(args, "-frames:v", "1")
	case "avif":
		args = append(args, "-frames:v", "1", "-c:v", "libaom-av1", "-still-picture", "1")
	default:
		t.Fatalf("mp4test.Sample: no recipe for %q", ext)
	}
	out := filepath.Join(t.TempDir(), "sample."+ext)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if msg, err := exec.CommandContext(ctx, ffmpeg, append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Package mp4meta reads what an MP4 (ISO-BMFF or QuickTime) file says about its recording — time,
// place, device, duration, frame size and encoder traces — from its moov box, through ranged reads.
// It never reads the media data, and every walk is bounded in boxes, depth and bytes.
package mp4meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bound one Read; zero fields take the defaults.
type Limits struct {
	MaxDepth int   // nesting of boxes below the file's top level (default 16)
	MaxBoxes int   // boxes visited in all (default 4096)
	MaxBox   int64 // largest metadata box read whole, e.g. a meta box (default 1 MiB)
	MaxRead  int64 // bytes fetched from the reader in all (default 4 MiB)
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 16
	}
	if l.MaxBoxes <= 0 {
		l.MaxBoxes = 4096
	}
	if l.MaxBox <= 0 {
		l.MaxBox = 1 << 20
	}
	if l.MaxRead <= 0 {
		l.MaxRead = 4 << 20
	}
	return l
}

// Location is a point on the earth as the file records it.
type Location struct {
	Lat, Long float64
	Source    string // the box it came from: "©xyz", "loci" or the ISO 6709 key
}

// Info is what the file says. Fields the file does not carry are zero.
type Info struct {
	Brand    string        // ftyp major brand
	Duration time.Duration // mvhd (or, in a fragmented file, mehd)
	// Created is mvhd's creation time; zero when the file leaves it 0, as ffmpeg does by default.
	Created time.Time
	// CreationDate is QuickTime's com.apple.quicktime.creationdate (or ©day): the capture time an iPhone
	// writes, with its zone.
	CreationDate time.Time
	Width        int // the first video track's tkhd size
	Height       int
	Location     *Location
	Make         string
	Model        string
	Software     string
	// Encoders are the encoder traces found: ©too and encoder tags, the video sample entry's
	// compressor name, the encoder's own note at the start of the first video sample (x264's SEI).
	Encoders []string
	// Tags holds every text tag read (at most maxTags), keyed by its ilst key or udta box type.
	Tags map[string]string
}

// RecordedAt is the best capture time the file gives: QuickTime's creationdate, else mvhd's.
func (i Info) RecordedAt() (time.Time, bool) {
	if !i.CreationDate.IsZero() {
		return i.CreationDate, true
	}
	if !i.Created.IsZero() {
		return i.Created, true
	}
	return time.Time{}, false
}

var (
	// ErrNotMP4 means the file does not start with an ftyp box.
	ErrNotMP4 = errors.New("mp4meta: not an MP4 file")
	// ErrNoMoov means the file has no movie box (not finished recording, or not a movie).
	ErrNoMoov = errors.New("mp4meta: no moov box")
	// ErrMalformed covers boxes that do not fit their parent or the file.
	ErrMalformed = errors.New("mp4meta: malformed box")
	// ErrLimit means the file needed more boxes, depth or bytes than Limits allow.
	ErrLimit = errors.New("mp4meta: limit exceeded")
)

const (
	maxTags     = 64
	maxTagValue = 256
	chunkSize   = 64 << 10
	seiProbe    = 4 << 10 // bytes read at the first video sample to find the encoder's note
)

// Read walks the file's boxes through r, which holds size bytes.
func Read(r io.ReaderAt, size int64, lim Limits) (Info, error) {
	p := &parser{src: source{r: r, size: size, max: lim.withDefaults().MaxRead}, lim: lim.withDefaults(),
		info: Info{Tags: map[string]string{}}}
	if err := p.file(); err != nil {
		return Info{}, err
	}
	return p.info, nil
}

// source serves reads from one cached chunk, so that a walk over many small box headers costs few
// ranged requests; it counts every byte fetched.
type source struct {
	r       io.ReaderAt
	size    int64
	max     int64
	fetched int64
	buf     []byte
	bufOff  int64
}

func (s *source) at(off int64, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, fmt.Errorf("%w: read of %d bytes at %d beyond the file's %d", ErrMalformed, n, off, s.size)
	}
	if off >= s.bufOff && off+n <= s.bufOff+int64(len(s.buf)) {
		return s.buf[off-s.bufOff : off-s.bufOff+n], nil
	}
	want := n
	if want < chunkSize {
		want = min(chunkSize, s.size-off)
	}
	if s.fetched+want > s.max {
		want = n // no read-ahead near the budget
	}
	if s.fetched+want > s.max {
		return nil, fmt.Errorf("%w: more than %d bytes of metadata", ErrLimit, s.max)
	}
	b := make([]byte, want)
	got, err := s.r.ReadAt(b, off)
	s.fetched += int64(got)
	if int64(got) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("mp4meta: read at %d: %w", off, err) // the object is shorter than declared
		}
		return nil, readError{fmt.Errorf("mp4meta: read at %d: %w", off, err)}
	}
	s.buf, s.bufOff = b[:got], off
	return b[:n], nil
}

type box struct {
	typ       string
	off, size int64 // size includes the header
	hdr       int64
}

func (b box) body() int64 { return b.off + b.hdr }
func (b box) end() int64  { return b.off + b.size }

type parser struct {
	src   source
	lim   Limits
	boxes int
	info  Info
	// video is the first video track's sample data offset, for the encoder's note.
	videoChunk int64
	haveVideo  bool
	scale      uint32 // mvhd's timescale, for mehd
}

// header reads the box at off, which must end by end.
func (p *parser) header(off, end int64) (box, error) {
	p.boxes++
	if p.boxes > p.lim.MaxBoxes {
		return box{}, fmt.Errorf("%w: more than %d boxes", ErrLimit, p.lim.MaxBoxes)
	}
	if end-off < 8 {
		return box{}, fmt.Errorf("%w: %d stray bytes at %d", ErrMalformed, end-off, off)
	}
	h, err := p.src.at(off, 8)
	if err != nil {
		return box{}, err
	}
	b := box{typ: string(h[4:8]), off: off, size: int64(binary.BigEndian.Uint32(h)), hdr: 8}
	switch b.size {
	case 0: // to the end of the enclosing space
		b.size = end - off
	case 1:
		if end-off < 16 {
			return box{}, fmt.Errorf("%w: truncated 64-bit size at %d", ErrMalformed, off)
		}
		l, err := p.src.at(off+8, 8)
		if err != nil {
			return box{}, err
		}
		large := binary.BigEndian.Uint64(l)
		if large > math.MaxInt64 {
			return box{}, fmt.Errorf("%w: box %q at %d: size %d", ErrMalformed, printable(b.typ), off, large)
		}
		b.size, b.hdr = int64(large), 16
	}
	if b.size < b.hdr || b.size > end-off {
		return box{}, fmt.Errorf("%w: box %q at %d: size %d does not fit in %d bytes", ErrMalformed, printable(b.typ), off, b.size, end-off)
	}
	return b, nil
}

// file walks the top level: ftyp first, then the boxes up to and including moov, wherever it is.
func (p *parser) file() error {
	first, err := p.header(0, p.src.size)
	if ReaderFailed(err) {
		return err // the reader's fault (a store that is down), not a finding about the file
	}
	if err != nil || first.typ != "ftyp" {
		return ErrNotMP4
	}
	if first.size >= 16 {
		b, err := p.src.at(first.body(), 4)
		if ReaderFailed(err) {
			return err
		}
		if err == nil {
			p.info.Brand = strings.TrimSpace(printable(string(b)))
		}
	}
	for off := first.end(); off < p.src.size; {
		b, err := p.header(off, p.src.size)
		if err != nil {
			return err
		}
		if b.typ == "moov" {
			if err := p.children(b, 1, p.moovChild); err != nil {
				return err
			}
			return p.encoderNote()
		}
		off = b.end()
	}
	return ErrNoMoov
}

// childrenFrom calls fn for each box inside parent's body from start (an offset into the body).
func (p *parser) childrenFrom(parent box, start int64, depth int, fn func(box, int) error) error {
	if depth > p.lim.MaxDepth {
		return fmt.Errorf("%w: boxes nested deeper than %d", ErrLimit, p.lim.MaxDepth)
	}
	for off := parent.body() + start; off < parent.end(); {
		b, err := p.header(off, parent.end())
		if err != nil {
			return err
		}
		if err := fn(b, depth+1); err != nil {
			return err
		}
		off = b.end()
	}
	return nil
}

func (p *parser) children(parent box, depth int, fn func(box, int) error) error {
	return p.childrenFrom(parent, 0, depth, fn)
}

// payload reads a box's body whole, or its first limit bytes when limit > 0.
func (p *parser) payload(b box, limit int64) ([]byte, error) {
	n := b.size - b.hdr
	if limit > 0 && n > limit {
		n = limit
	}
	if n > p.lim.MaxBox {
		return nil, fmt.Errorf("%w: box %q of %d bytes", ErrLimit, printable(b.typ), n)
	}
	return p.src.at(b.body(), n)
}

func (p *parser) moovChild(b box, depth int) error {
	switch b.typ {
	case "mvhd":
		body, err := p.payload(b, 32)
		if err != nil {
			return err
		}
		p.mvhd(body)
	case "mvex":
		return p.children(b, depth, func(c box, d int) error {
			if c.typ != "mehd" || p.info.Duration > 0 {
				return nil
			}
			// mehd's fragment duration is in mvhd's timescale, which mvhd (always first) gave.
			body, err := p.payload(c, 12)
			if err == nil {
				p.mehd(body)
			}
			return err
		})
	case "trak":
		return p.trak(b, depth)
	case "udta":
		return p.children(b, depth, p.udtaChild)
	case "meta":
		return p.meta(b)
	}
	return nil
}

func (p *parser) mvhd(b []byte) {
	var created uint64
	var scale uint32
	var dur uint64
	switch {
	case len(b) >= 32 && b[0] == 1:
		created, scale, dur = binary.BigEndian.Uint64(b[4:]), binary.BigEndian.Uint32(b[20:]), binary.BigEndian.Uint64(b[24:])
	case len(b) >= 20 && b[0] == 0:
		created, scale, dur = uint64(binary.BigEndian.Uint32(b[4:])), binary.BigEndian.Uint32(b[12:]), uint64(binary.BigEndian.Uint32(b[16:]))
	default:
		return
	}
	p.info.Created = macTime(created)
	p.scale = scale
	if scale > 0 && dur != math.MaxUint32 && dur != math.MaxUint64 {
		p.info.Duration = scaled(dur, scale)
	}
}

func (p *parser) mehd(b []byte) {
	var dur uint64
	switch {
	case len(b) >= 12 && b[0] == 1:
		dur = binary.BigEndian.Uint64(b[4:])
	case len(b) >= 8 && b[0] == 0:
		dur = uint64(binary.BigEndian.Uint32(b[4:]))
	}
	if p.scale > 0 {
		p.info.Duration = scaled(dur, p.scale)
	}
}

func scaled(units uint64, scale uint32) time.Duration {
	s := float64(units) / float64(scale)
	if s > 1e6 { // beyond any real recording: the field is junk
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// macEpoch is QuickTime's and ISO-BMFF's zero time.
var macEpoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

func macTime(secs uint64) time.Time {
	// 0 is "not set"; anything past 2200 is junk rather than a date.
	if secs == 0 || secs > uint64(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Sub(macEpoch)/time.Second) {
		return time.Time{}
	}
	return macEpoch.Add(time.Duration(secs) * time.Second)
}

// track gathers what one trak says.
type track struct {
	handler       string
	width, height int
	compressor    string
	firstChunk    int64
}

func (p *parser) trak(b box, depth int) error {
	var t track
	t.firstChunk = -1
	var walk func(box, int) error
	walk = func(c box, d int) error {
		switch c.typ {
		case "tkhd":
			body, err := p.payload(c, 92)
			if err != nil {
				return err
			}
			t.width, t.height = tkhdSize(body)
		case "mdia", "minf", "stbl":
			return p.children(c, d, walk)
		case "hdlr":
			body, err := p.payload(c, 12)
			if err != nil {
				return err
			}
			if len(body) >= 12 {
				t.handler = string(body[8:12])
			}
		case "stsd":
			body, err := p.payload(c, 512)
			if err != nil {
				return err
			}
			t.compressor = compressorName(body)
		case "stco", "co64":
			if t.firstChunk >= 0 {
				return nil
			}
			body, err := p.payload(c, 16) // version and flags, count, the first entry: not the table
			if err != nil {
				return err
			}
			t.firstChunk = firstChunk(c.typ, body)
		case "udta":
			return p.children(c, d, p.udtaChild)
		case "meta":
			return p.meta(c)
		}
		return nil
	}
	if err := p.children(b, depth, walk); err != nil {
		return err
	}
	video := t.handler == "vide" || (t.handler == "" && t.width > 0 && t.height > 0)
	if !video || p.haveVideo {
		return nil
	}
	p.haveVideo = true
	p.info.Width, p.info.Height = t.width, t.height
	if t.compressor != "" {
		p.addEncoder(t.compressor)
	}
	p.videoChunk = t.firstChunk
	return nil
}

func tkhdSize(b []byte) (int, int) {
	off := 76 // version 0: 4 flags, 20 times and ids, 8 reserved, 8 layer/group/volume, 36 matrix
	if len(b) > 0 && b[0] == 1 {
		off = 88
	}
	if len(b) < off+8 {
		return 0, 0
	}
	w, h := binary.BigEndian.Uint32(b[off:])>>16, binary.BigEndian.Uint32(b[off+4:])>>16
	if w > 1<<15 || h > 1<<15 {
		return 0, 0
	}
	return int(w), int(h)
}

// compressorName is the first visual sample entry's 32-byte Pascal string ("Lavc libx264").
func compressorName(b []byte) string {
	const entry = 8     // version, flags, entry count
	const name = 8 + 42 // size, format, then the fields before compressorname
	if len(b) < entry+name+32 {
		return ""
	}
	n := int(b[entry+name])
	if n == 0 || n > 31 {
		return ""
	}
	return cleanText(b[entry+name+1 : entry+name+1+n])
}

func firstChunk(typ string, b []byte) int64 {
	if len(b) < 8 || binary.BigEndian.Uint32(b[4:]) == 0 {
		return -1
	}
	if typ == "co64" {
		if len(b) < 16 {
			return -1
		}
		v := binary.BigEndian.Uint64(b[8:])
		if v > math.MaxInt64 {
			return -1
		}
		return int64(v)
	}
	if len(b) < 12 {
		return -1
	}
	return int64(binary.BigEndian.Uint32(b[8:]))
}

// udtaChild reads QuickTime user data: ©xyz (Android's camera writes the place there), loci (3GPP, what
// ffmpeg writes), ©-text atoms and a meta box (ffmpeg's use_metadata_tags).
func (p *parser) udtaChild(b box, _ int) error {
	switch {
	case b.typ == "meta":
		return p.meta(b)
	case b.typ == "loci":
		body, err := p.payload(b, 1024)
		if err != nil {
			return err
		}
		if loc, ok := parseLoci(body); ok {
			p.setLocation(loc)
		}
	case len(b.typ) == 4 && b.typ[0] == 0xa9:
		body, err := p.payload(b, 4096)
		if err != nil {
			return err
		}
		// A QuickTime text atom: 16-bit length, 16-bit language, text; some writers put a data box here.
		var text string
		if len(body) >= 4 {
			n := int(binary.BigEndian.Uint16(body))
			if 4+n <= len(body) {
				text = cleanText(body[4 : 4+n])
			}
		}
		if text == "" {
			text = dataValue(body)
		}
		p.tag(b.typ, text)
	}
	return nil
}

// meta reads a metadata box: hdlr, then keys (QuickTime mdta) and ilst. An iPhone writes it in
// QuickTime's form, without version and flags; ffmpeg and iTunes write it as a full box.
func (p *parser) meta(b box) error {
	body, err := p.payload(b, 0)
	if err != nil {
		return err
	}
	start := 0
	if len(body) >= 12 && string(body[4:8]) != "hdlr" && string(body[8:12]) == "hdlr" {
		start = 4
	}
	var keys []string
	var ilst []byte
	for _, c := range p.memChildren(body[start:]) {
		switch c.typ {
		case "keys":
			keys = parseKeys(c.body)
		case "ilst":
			ilst = c.body
		}
	}
	for _, item := range p.memChildren(ilst) {
		name := item.typ
		if keys != nil {
			idx := binary.BigEndian.Uint32([]byte(item.typ))
			if idx == 0 || int(idx) > len(keys) {
				continue
			}
			name = keys[idx-1]
		}
		var value string
		for _, c := range p.memChildren(item.body) {
			switch c.typ {
			case "name": // a freeform "----" item's name
				if len(c.body) > 4 && name == "----" {
					name = cleanText(c.body[4:])
				}
			case "data":
				if value == "" {
					value = dataBody(c.body)
				}
			}
		}
		p.tag(name, value)
	}
	return nil
}

type memBox struct {
	typ  string
	body []byte
}

// memChildren splits an in-memory container into its boxes, stopping at the first that does not fit.
func (p *parser) memChildren(b []byte) []memBox {
	var out []memBox
	for len(b) >= 8 {
		p.boxes++
		if p.boxes > p.lim.MaxBoxes {
			return out
		}
		size := int64(binary.BigEndian.Uint32(b))
		hdr := int64(8)
		if size == 0 {
			size = int64(len(b))
		}
		if size == 1 {
			if len(b) < 16 {
				return out
			}
			l := binary.BigEndian.Uint64(b[8:])
			if l > uint64(len(b)) {
				return out
			}
			size, hdr = int64(l), 16
		}
		if size < hdr || size > int64(len(b)) {
			return out
		}
		out = append(out, memBox{typ: string(b[4:8]), body: b[hdr:size]})
		b = b[size:]
	}
	return out
}

func parseKeys(b []byte) []string {
	if len(b) < 8 {
		return nil
	}
	n := binary.BigEndian.Uint32(b[4:])
	keys := []string{}
	b = b[8:]
	for i := uint32(0); i < n && len(b) >= 8; i++ {
		size := binary.BigEndian.Uint32(b)
		if size < 8 || int64(size) > int64(len(b)) {
			break
		}
		keys = append(keys, cleanText(b[8:size]))
		b = b[size:]
	}
	return keys
}

// dataBody reads an ilst data box's body: type, locale, value. Only text values are kept.
func dataBody(b []byte) string {
	if len(b) < 8 {
		return ""
	}
	switch binary.BigEndian.Uint32(b) & 0xffffff {
	case 0, 1: // implicit (text in old writers), UTF-8
		return cleanText(b[8:])
	}
	return ""
}

// dataValue finds a data box inside a udta ©-atom that holds one instead of a text atom.
func dataValue(b []byte) string {
	if len(b) >= 16 && string(b[4:8]) == "data" {
		size := binary.BigEndian.Uint32(b)
		if size >= 8 && int(size) <= len(b) {
			return dataBody(b[8:size])
		}
	}
	return ""
}

// parseLoci reads a 3GPP location box: version and flags, language, name, role, then longitude,
// latitude and altitude as 16.16 fixed point.
func parseLoci(b []byte) (Location, bool) {
	if len(b) < 6 {
		return Location{}, false
	}
	rest := b[6:]
	if len(rest) >= 2 && (rest[0] == 0xfe && rest[1] == 0xff) { // UTF-16 name: ends with two zero bytes
		i := 2
		for ; i+1 < len(rest) && (rest[i] != 0 || rest[i+1] != 0); i += 2 {
		}
		rest = rest[min(i+2, len(rest)):]
	} else {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return Location{}, false
		}
		rest = rest[i+1:]
	}
	if len(rest) < 1+12 {
		return Location{}, false
	}
	fixed := func(v []byte) float64 { return float64(int32(binary.BigEndian.Uint32(v))) / 65536 }
	loc := Location{Long: fixed(rest[1:]), Lat: fixed(rest[5:]), Source: "loci"}
	return loc, validPoint(loc.Lat, loc.Long)
}

func (p *parser) setLocation(loc Location) {
	if p.info.Location == nil {
		p.info.Location = &loc
	}
}

// tag records a text tag and picks out the ones with a meaning.
func (p *parser) tag(name, value string) {
	if name == "" || value == "" {
		return
	}
	if len(value) > maxTagValue {
		value = truncate(value, maxTagValue)
	}
	key := printable(name)
	if _, dup := p.info.Tags[key]; !dup && len(p.info.Tags) < maxTags {
		p.info.Tags[key] = value
	}
	switch asciiLower(name) {
	case "com.apple.quicktime.location.iso6709", "\xa9xyz", "com.android.location":
		if lat, long, ok := ParseISO6709(value); ok {
			p.setLocation(Location{Lat: lat, Long: long, Source: key})
		}
	case "com.apple.quicktime.creationdate", "\xa9day":
		if t, ok := parseDate(value); ok && p.info.CreationDate.IsZero() {
			p.info.CreationDate = t
		}
	case "com.apple.quicktime.make", "\xa9mak", "com.android.manufacturer":
		setOnce(&p.info.Make, value)
	case "com.apple.quicktime.model", "\xa9mod", "com.android.model":
		setOnce(&p.info.Model, value)
	case "com.apple.quicktime.software", "\xa9swr":
		setOnce(&p.info.Software, value)
	case "com.android.version":
		setOnce(&p.info.Software, "Android "+value)
	case "\xa9too", "encoder", "com.apple.quicktime.encoder", "\xa9enc":
		p.addEncoder(value)
	}
}

// asciiLower lowers ASCII letters only: box types hold the byte 0xA9 (©), which strings.ToLower would
// replace as invalid UTF-8.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func (p *parser) addEncoder(v string) {
	for _, e := range p.info.Encoders {
		if e == v {
			return
		}
	}
	if len(p.info.Encoders) < 16 {
		p.info.Encoders = append(p.info.Encoders, v)
	}
}

// encoderNote looks for the note x264 and x265 leave in the first video sample (an SEI message):
// a file whose tags were scrubbed may still name its encoder there.
func (p *parser) encoderNote() error {
	if p.videoChunk <= 0 || p.videoChunk >= p.src.size {
		return nil
	}
	b, err := p.src.at(p.videoChunk, min(seiProbe, p.src.size-p.videoChunk))
	if ReaderFailed(err) {
		return err
	}
	if err != nil {
		return nil // past the budget or the object's end: the note is optional
	}
	for _, sig := range []string{"x264 - core ", "x265 (build "} {
		i := bytes.Index(b, []byte(sig))
		if i < 0 {
			continue
		}
		end := i + len(sig)
		for end < len(b) && end < i+len(sig)+16 && b[end] >= '0' && b[end] <= '9' {
			end++
		}
		note := strings.TrimRight(string(b[i:end]), " ")
		if sig[:4] == "x265" && end < len(b) && b[end] == ')' {
			note += ")"
		}
		p.addEncoder(note)
	}
	return nil
}

// readError is a failure of the reader itself.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// ReaderFailed tells an error of the reader (a store that is down or hung, a cancelled read: to be
// tried again) from what the bytes say (not an MP4, malformed, over the limits, shorter than declared).
func ReaderFailed(err error) bool {
	var r readError
	return errors.As(err, &r)
}

// ParseISO6709 reads an ISO 6709 point as phones write it: "+43.2380+076.9450+000.000/", or in degrees
// and minutes ("+4314.28+07656.70/") or degrees, minutes and seconds.
func ParseISO6709(s string) (lat, long float64, ok bool) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "/"))
	var parts []string
	for i := 0; i < len(s); {
		if s[i] != '+' && s[i] != '-' {
			return 0, 0, false
		}
		j := i + 1
		for j < len(s) && s[j] != '+' && s[j] != '-' {
			j++
		}
		parts = append(parts, s[i:j])
		i = j
	}
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, false
	}
	lat, ok1 := isoComponent(parts[0], 2)
	long, ok2 := isoComponent(parts[1], 3)
	if !ok1 || !ok2 || !validPoint(lat, long) {
		return 0, 0, false
	}
	return lat, long, true
}

// isoComponent reads ±D[D…][.f], where the count of integer digits tells degrees (deg), degrees and
// minutes (deg+2) or degrees, minutes and seconds (deg+4).
func isoComponent(s string, deg int) (float64, bool) {
	sign := 1.0
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || len(intPart) > deg+4 {
		return 0, false
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	var f float64
	if _, err := fmt.Sscanf(s, "%g", &f); err != nil {
		return 0, false
	}
	switch n := len(intPart); {
	case n <= deg:
	case n <= deg+2:
		d := math.Floor(f / 100)
		f = d + (f-d*100)/60
	default:
		d := math.Floor(f / 10000)
		m := math.Floor((f - d*10000) / 100)
		f = d + m/60 + (f-d*10000-m*100)/3600
	}
	return sign * f, true
}

func validPoint(lat, long float64) bool {
	return lat >= -90 && lat <= 90 && long >= -180 && long <= 180 && !(lat == 0 && long == 0)
}

var dateLayouts = []string{
	"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05Z", "2006-01-02 15:04:05-0700",
	"2006-01-02T15:04:05", "2006-01-02 15:04:05",
}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil && t.Year() >= 1990 && t.Year() < 2200 {
			return t, true
		}
	}
	return time.Time{}, false
}

// cleanText keeps valid UTF-8 up to the first NUL, without control characters.
func cleanText(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if !utf8.Valid(b) {
		return ""
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, string(b)))
}

// printable shows a box type with © as is and other bytes escaped.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0xa9:
			b.WriteString("©")
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

package httpx

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/gofiber/fiber/v2"

	inspections "github.com/forteleasing/inspections"
)

// gzipMin is the smallest answer worth compressing: below one TCP segment gzip saves nothing.
const gzipMin = 1400

// The compressors are big (BestSpeed's tables are ~1 MB with their buffers): they are reused.
var (
	gzipWriters  = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}
	flateWriters = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }}
)

// sendJSON answers with body, gzip-encoded when it is large and the client accepts gzip.
func sendJSON(c *fiber.Ctx, status int, body []byte) error {
	c.Status(status).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	if len(body) < gzipMin {
		return c.Send(body)
	}
	c.Vary(fiber.HeaderAcceptEncoding)
	if !acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		return c.Send(body)
	}
	var zb bytes.Buffer
	zb.Grow(len(body) / 4)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&zb)
	if _, err := zw.Write(body); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentEncoding, "gzip")
	return c.Send(zb.Bytes())
}

// Deflate compresses fragment for OKSpliced. The DEFLATE blocks of a fresh compressor refer to nothing
// before them, so they may follow any other blocks in one stream.
func Deflate(fragment []byte) (*inspections.Fragment, error) {
	var zb bytes.Buffer
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	fw.Reset(&zb)
	if _, err := fw.Write(fragment); err != nil {
		return nil, err
	}
	if err := fw.Flush(); err != nil { // sync flush: byte-aligned, not final
		return nil, err
	}
	return &inspections.Fragment{JSON: fragment, Deflated: zb.Bytes(), CRC: crc32.ChecksumIEEE(fragment)}, nil
}

// OKSpliced answers 200 with the success envelope around the JSON object head + frag + "}": head is
// the object's opening brace and fields without its closing brace, frag continues it (",\"key\":…").
// When the client accepts gzip the answer is one gzip member whose DEFLATE stream is head in stored
// blocks, frag's blocks (compressed when it was cached) and a stored final block with the closing braces.
func OKSpliced(c *fiber.Ctx, head []byte, frag *inspections.Fragment) error {
	prefix, err := spliceEnvelope("ok", fiber.StatusOK, "success", append(head[:len(head):len(head)], '}'))
	if err != nil {
		return err
	}
	prefix = prefix[:len(prefix)-2] // without the closing braces of data and the envelope
	const closing = "}}"
	c.Status(fiber.StatusOK).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Vary(fiber.HeaderAcceptEncoding)
	if !acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		body := make([]byte, 0, len(prefix)+len(frag.JSON)+len(closing))
		body = append(append(append(body, prefix...), frag.JSON...), closing...)
		return c.Send(body)
	}
	var zb bytes.Buffer
	zb.Grow(len(prefix) + len(frag.Deflated) + 64)
	// RFC 1952 member header: magic, CM=8 (deflate), no flags, no mtime, XFL=4 (fastest), OS=255 (unknown).
	zb.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255})
	// The head goes in stored blocks: it is a few KB, mostly two tokens that do not compress, and building
	// Huffman tables for it was 14 % of a refresh's CPU.
	for rest := prefix; len(rest) > 0; {
		n := min(len(rest), 0xffff)
		zb.Write([]byte{0, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)}) // BFINAL=0, BTYPE=00, LEN, NLEN
		zb.Write(rest[:n])
		rest = rest[n:]
	}
	zb.Write(frag.Deflated)
	// A stored final block (RFC 1951 §3.2.4): BFINAL=1, BTYPE=00, then LEN and its complement, then the bytes.
	zb.Write([]byte{1, byte(len(closing)), 0, ^byte(len(closing)), 0xff})
	zb.WriteString(closing)
	// The fragment's CRC is combined, not computed again: hashing its ~100 KB was 4 % of a refresh.
	crc := crc32.Update(crc32Combine(crc32.ChecksumIEEE(prefix), frag.CRC, int64(len(frag.JSON))), crc32.IEEETable, []byte(closing))
	zb.Write(binary.LittleEndian.AppendUint32(nil, crc))
	zb.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(prefix)+len(frag.JSON)+len(closing))))
	c.Set(fiber.HeaderContentEncoding, "gzip")
	return c.Send(zb.Bytes())
}

// crc32Combine is the CRC-32 (IEEE) of a+b from crc1 of a, crc2 of b and b's length: zlib's
// crc32_combine (1.2.12), which multiplies crc1 by x^(8·len2) modulo the polynomial.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; len2 != 0; len2, k = len2>>1, k+1 {
		if len2&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
	}
	return multModP(p, crc1) ^ crc2
}

// x2nTable[k] is x^(2^k) modulo the CRC-32 polynomial, bit-reflected as the CRC is.
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = multModP(p, p)
	}
	return t
}()

// multModP multiplies a and b modulo the bit-reflected CRC-32 polynomial.
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; ; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
}

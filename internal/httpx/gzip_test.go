package httpx

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// bigFragment is a fragment like the login answer's cached blocks: ~100 KB of JSON.
func bigFragment(t *testing.T) []byte {
	t.Helper()
	var items []map[string]any
	for i := range 800 {
		items = append(items, map[string]any{"ref_key": fmt.Sprintf("00000000-0000-4000-9000-%012d", i), "report_number": fmt.Sprintf("ОС-%08d", i),
			"status": i % 4, "title": "Сфотографировать лобовое стекло"})
	}
	b, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(`,"reports":`), b...)
}

func get(t *testing.T, app *fiber.App, acceptEncoding string) (*httpResult, error) {
	t.Helper()
	req := httptest.NewRequest("GET", "/x", nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		return nil, err
	}
	raw, _ := io.ReadAll(resp.Body)
	return &httpResult{status: resp.StatusCode, encoding: resp.Header.Get("Content-Encoding"), vary: resp.Header.Get("Vary"), body: raw}, nil
}

type httpResult struct {
	status         int
	encoding, vary string
	body           []byte
}

// gunzip decodes exactly one gzip member (as strict clients such as Okio's GzipSource do) and checks
// its CRC and length, and decodes the same bytes with the system's gzip when it is installed.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if rest, _ := io.ReadAll(zr); len(rest) != 0 {
		t.Fatal("bytes after the gzip member")
	}
	if path, err := exec.LookPath("gzip"); err == nil {
		cmd := exec.Command(path, "-dc")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gzip -dc refused the answer: %v", err)
		}
		if !bytes.Equal(out, plain) {
			t.Fatal("gzip -dc decoded something else")
		}
	} else {
		t.Log("gzip not installed: checked with compress/gzip only")
	}
	return plain
}

func TestOKSpliced_GzipIsOneMemberThatDecodesToThePlainAnswer(t *testing.T) {
	frag := bigFragment(t)
	d, err := Deflate(frag)
	if err != nil {
		t.Fatal(err)
	}
	head := []byte(`{"access_token":"a.b.c","refresh_token":"d.e.f","first_name":"Директор"`)
	app := fiber.New()
	app.Get("/x", func(c *fiber.Ctx) error { return OKSpliced(c, head, d) })

	plain, err := get(t, app, "")
	if err != nil {
		t.Fatal(err)
	}
	if plain.encoding != "" || plain.status != 200 {
		t.Fatalf("without Accept-Encoding: status %d, encoding %q", plain.status, plain.encoding)
	}
	var env struct {
		Status string
		Data   map[string]json.RawMessage
	}
	if err := json.Unmarshal(plain.body, &env); err != nil {
		t.Fatalf("plain answer is not JSON: %v", err)
	}
	if env.Status != "ok" || string(env.Data["refresh_token"]) != `"d.e.f"` || string(env.Data["code"]) != "200" || len(env.Data["reports"]) < 50_000 {
		t.Fatalf("plain answer: %.200s", plain.body)
	}

	for _, ae := range []string{"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8"} {
		z, err := get(t, app, ae)
		if err != nil {
			t.Fatal(err)
		}
		if z.encoding != "gzip" || !strings.Contains(z.vary, "Accept-Encoding") {
			t.Fatalf("Accept-Encoding %q: encoding %q, vary %q", ae, z.encoding, z.vary)
		}
		if len(z.body) > len(plain.body)/4 {
			t.Fatalf("gzip answer %d bytes for %d plain", len(z.body), len(plain.body))
		}
		if got := gunzip(t, z.body); !bytes.Equal(got, plain.body) {
			t.Fatalf("decoded gzip answer differs from the plain one:\n%.300s\n%.300s", got, plain.body)
		}
	}
	if z, _ := get(t, app, "gzip;q=0"); z.encoding != "" {
		t.Fatal("gzip;q=0 got a gzip answer")
	}
}

func TestRespond_GzipsLargeAnswersTheClientAccepts(t *testing.T) {
	var items []string
	for i := range 500 {
		items = append(items, fmt.Sprintf("item-%d", i))
	}
	app := fiber.New()
	app.Get("/x", func(c *fiber.Ctx) error { return OK(c, map[string]any{"items": items}) })
	app.Get("/small", func(c *fiber.Ctx) error { return OK(c, map[string]any{"n": 1}) })

	plain, _ := get(t, app, "")
	z, _ := get(t, app, "gzip")
	if plain.encoding != "" || z.encoding != "gzip" {
		t.Fatalf("encodings: plain %q, gzip %q", plain.encoding, z.encoding)
	}
	if got := gunzip(t, z.body); !bytes.Equal(got, plain.body) {
		t.Fatal("decoded answer differs")
	}
	req := httptest.NewRequest("GET", "/small", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("a small answer was compressed")
	}
}

// A head longer than one stored block (64 KiB: a director with many employees) spans several.
func TestOKSpliced_HeadLongerThanAStoredBlock(t *testing.T) {
	d, err := Deflate(bigFragment(t))
	if err != nil {
		t.Fatal(err)
	}
	head := []byte(`{"access_token":"a.b.c","first_name":"` + strings.Repeat("Ж", 70_000) + `"`)
	app := fiber.New()
	app.Get("/x", func(c *fiber.Ctx) error { return OKSpliced(c, head, d) })
	plain, _ := get(t, app, "")
	z, _ := get(t, app, "gzip")
	if z.encoding != "gzip" {
		t.Fatalf("encoding %q", z.encoding)
	}
	if got := gunzip(t, z.body); !bytes.Equal(got, plain.body) || !json.Valid(got) {
		t.Fatalf("decoded answer differs from the plain one (%d vs %d bytes)", len(got), len(plain.body))
	}
}

func TestCRC32Combine_IsTheCRCOfTheConcatenation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 7, 64, 1000, 65535, 65536, 200_001} {
		a, b := make([]byte, r.IntN(5000)), make([]byte, n)
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(append(a[:len(a):len(a)], b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Errorf("len(a)=%d len(b)=%d: combined %08x, want %08x", len(a), n, got, want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/onec"
)

const taskRef = onec.DemoTaskRefKey // status 1 in the demo data, company BIN

// makeMP4 writes a minimal ISO-BMFF file: an ftyp box, then an mdat box filling it to size bytes.
func makeMP4(size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[0:], 24)
	copy(b[4:], "ftypisom\x00\x00\x02\x00isommp41")
	binary.BigEndian.PutUint32(b[24:], uint32(size-24))
	copy(b[28:], "mdat")
	_, _ = rand.Read(b[32:])
	return b
}

type part struct{ name, value string }

// uploadBody builds the multipart body in the given order; file may be nil to leave it out.
func uploadBody(fields []part, file []byte, fileFirst bool) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	writeFile := func() {
		if file != nil {
			fw, _ := w.CreateFormFile("file", "video.mp4")
			_, _ = fw.Write(file)
		}
	}
	if fileFirst {
		writeFile()
	}
	for _, f := range fields {
		_ = w.WriteField(f.name, f.value)
	}
	if !fileFirst {
		writeFile()
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

func meta(ref string) []part {
	return []part{{"ref_key", ref}, {"time_sent", "2026-03-03 10:15:00"}, {"lat", "43.238949"}, {"long", "76.889709"}, {"odometer", "120345"}}
}

func (ta *testApp) upload(token string, fields []part, file []byte, fileFirst bool, headers ...string) answer {
	body, ct := uploadBody(fields, file, fileFirst)
	return ta.do(http.MethodPost, "/reports/upload", body, append([]string{"Authorization", "Bearer " + token, "Content-Type", ct}, headers...)...)
}

func (ta *testApp) reportStatus(t *testing.T, ref string) int {
	return ta.count(t, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}

// videos lists the keys in the store.
func (ta *testApp) videos(t *testing.T) []string {
	t.Helper()
	var keys []string
	err := ta.app.Media.List(context.Background(), "videos/", func(o media.Object) error { keys = append(keys, o.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// eachStore runs fn against the disk store and, when FL_TEST_S3_URL is set, a fresh MinIO bucket.
func eachStore(t *testing.T, fn func(t *testing.T, ta *testApp), extraEnv ...string) {
	t.Run("disk", func(t *testing.T) { fn(t, newTestApp(t, "", extraEnv...)) })
	t.Run("minio", func(t *testing.T) {
		fn(t, newTestApp(t, "", append([]string{"FL_MEDIA_URL", testBucketURL(t)}, extraEnv...)...))
	})
}

// testBucketURL points at a bucket of this test's own on the MinIO of FL_TEST_S3_URL.
func testBucketURL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("FL_TEST_S3_URL")
	if raw == "" {
		t.Skip("FL_TEST_S3_URL is not set: MinIO tests skipped (bash .ci/run starts MinIO)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	u.Path = "/fl-test-" + hex.EncodeToString(b)
	return u.String()
}

// proxy forwards TCP to target and can cut every connection after limit bytes from the client.
type proxy struct {
	ln     net.Listener
	target string
	limit  int64
	mu     sync.Mutex
	conns  []net.Conn
}

// cut stops accepting and breaks every open connection: the peer is gone.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func startProxy(t *testing.T, target string, limit int64) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, limit: limit}
	t.Cleanup(func() { ln.Close() })
	go p.accept(ln)
	return p
}

// accept forwards every connection ln takes until ln is closed.
func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, up) }()
	_, _ = io.CopyN(up, c, p.limit) // then both sides are closed: the store "dies" mid-request
}

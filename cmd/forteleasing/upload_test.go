package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/onec"
	"github.com/forteleasing/inspections/reports"
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

func TestUpload_StoresTheVideoAndMovesTheReportToSent(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("up")).str("access_token")
		video := makeMP4(300 << 10)
		a := ta.upload(tok, meta(taskRef), video, false)
		wantStatus(t, a, 201, "")
		requireSeedShape(t, "upload", a.body)
		if s := ta.reportStatus(t, taskRef); s != 2 {
			t.Fatalf("status %d", s)
		}
		var row struct {
			Key      string  `db:"object_key"`
			Size     int64   `db:"size"`
			SHA      string  `db:"sha256"`
			Lat      float64 `db:"lat"`
			Odo      int64   `db:"odometer"`
			Uploader int64   `db:"uploader_id"`
		}
		if err := ta.app.DB.Get(&row, `SELECT object_key, size, sha256, lat, odometer, uploader_id FROM uploads`); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(video)
		if row.Size != int64(len(video)) || row.SHA != hex.EncodeToString(sum[:]) || row.Lat != 43.238949 || row.Odo != 120345 {
			t.Fatalf("upload row %+v", row)
		}
		rc, _, err := ta.app.Media.Open(context.Background(), row.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, video) {
			t.Fatal("stored bytes differ from the upload")
		}
		// Only status 1 or 4 takes a video.
		wantStatus(t, ta.upload(tok, meta(taskRef), video, false), 409, "report_not_awaiting_video")
		if n := len(ta.videos(t)); n != 1 {
			t.Fatalf("%d videos stored after a refused second upload", n)
		}
	})
}

func TestUpload_FieldsAfterTheFileAreFine(t *testing.T) {
	ta := newTestApp(t, "")
	tok := ta.login(demoBIN, director("late-fields")).str("access_token")
	wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(4096), true), 201, "")
}

func TestUpload_RefusesBadFilesAndLeavesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("bad")).str("access_token")
		notMP4 := append([]byte("GIF89a this is not a video at all"), make([]byte, 4096)...)
		wantStatus(t, ta.upload(tok, meta(taskRef), notMP4, false), 415, "not_mp4")
		wantStatus(t, ta.upload(tok, meta(taskRef), []byte{}, false), 400, "empty_file")
		wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(64<<10+1), false), 413, "file_too_large")
		wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(64<<10+1), true), 413, "file_too_large")
		if keys := ta.videos(t); len(keys) != 0 {
			t.Fatalf("refused uploads left %v", keys)
		}
		if s := ta.reportStatus(t, taskRef); s != 1 {
			t.Fatalf("status %d after refused uploads", s)
		}
		wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(64<<10), false), 201, "") // exactly the limit
	}, "FL_UPLOAD_MAX_BYTES", "65536")
}

func TestUpload_MissingAndMalformedFieldsAreNamed(t *testing.T) {
	ta := newTestApp(t, "")
	tok := ta.login(demoBIN, director("fields")).str("access_token")
	a := ta.upload(tok, nil, nil, false)
	wantStatus(t, a, 400, "invalid")
	for _, f := range []string{"file", "ref_key", "time_sent", "lat", "long"} {
		if !strings.Contains(string(a.raw), `"field":"`+f+`"`) {
			t.Errorf("no error for %s: %s", f, a.raw)
		}
	}
	bad := []part{{"ref_key", taskRef}, {"time_sent", "03.03.2026"}, {"lat", "91"}, {"long", "abc"}, {"odometer", "-5"}}
	a = ta.upload(tok, bad, makeMP4(4096), true)
	wantStatus(t, a, 400, "invalid")
	for _, f := range []string{"time_sent", "lat", "long", "odometer"} {
		if !strings.Contains(string(a.raw), `"field":"`+f+`"`) {
			t.Errorf("no error for %s: %s", f, a.raw)
		}
	}
	if len(ta.videos(t)) != 0 || ta.reportStatus(t, taskRef) != 1 {
		t.Fatal("a refused upload changed something")
	}
	wantStatus(t, ta.do(http.MethodPost, "/reports/upload", strings.NewReader(`{"ref_key":"x"}`),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json"), 400, "multipart_required")
	wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(4096), false, "Idempotency-Key", strings.Repeat("k", 200)), 400, "invalid_idempotency_key")
}

func TestUpload_AnotherCompanysReportIsNotFound(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		other := ta.login(demoIIN, director("thief")).str("access_token")
		wantStatus(t, ta.upload(other, meta(taskRef), makeMP4(4096), false), 404, "report_not_found")
		wantStatus(t, ta.upload(other, meta(taskRef), makeMP4(4096), true), 404, "report_not_found")
		if len(ta.videos(t)) != 0 || ta.reportStatus(t, taskRef) != 1 {
			t.Fatal("another company's upload changed something")
		}
	})
}

func TestUpload_RetryWithTheSameKeyStoresOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("idem")).str("access_token")
		video := makeMP4(8192)
		for i := 0; i < 3; i++ {
			wantStatus(t, ta.upload(tok, meta(taskRef), video, false, "Idempotency-Key", "upload-42"), 201, "")
		}
		if n := ta.count(t, `SELECT count(*) FROM uploads`); n != 1 {
			t.Fatalf("%d upload rows", n)
		}
		if n := len(ta.videos(t)); n != 1 {
			t.Fatalf("%d objects", n)
		}
	})
}

func TestUpload_ConcurrentUploadsForOneReportHaveOneWinner(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		// Three users, two uploads each: within the per-user cap of concurrent uploads.
		toks := []string{ta.login(demoBIN, director("race")).str("access_token"),
			ta.login(demoBIN, employee("race-e1", "+77010000001", "Один")).str("access_token"),
			ta.login(demoBIN, employee("race-e2", "+77010000002", "Два")).str("access_token")}
		var wg sync.WaitGroup
		var created, conflicts atomic.Int32
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				a := ta.upload(toks[i%3], meta(taskRef), makeMP4(64<<10), false, "Idempotency-Key", fmt.Sprintf("k-%d", i))
				switch a.code {
				case 201:
					created.Add(1)
				case 409:
					conflicts.Add(1)
				default:
					t.Errorf("status %d %s", a.code, a.raw)
				}
			}(i)
		}
		wg.Wait()
		if created.Load() != 1 || conflicts.Load() != 5 {
			t.Fatalf("created %d, conflicts %d", created.Load(), conflicts.Load())
		}
		if n := len(ta.videos(t)); n != 1 {
			t.Fatalf("%d objects after the race, want only the winner's", n)
		}
	})
}

// closingStore is the real store, except that the database is closed right after a video is stored:
// the commit that follows meets a dead database, as after a crash of PostgreSQL.
type closingStore struct {
	media.Store
	onPut func()
}

func (s closingStore) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) (media.Object, error) {
	o, err := s.Store.Put(ctx, key, r, size, ct)
	s.onPut()
	return o, err
}

func TestUpload_DatabaseFailingAfterTheObjectRemovesTheObject(t *testing.T) {
	ta := newTestApp(t, "")
	tok := ta.login(demoBIN, director("dbfail")).str("access_token")
	// A second database handle on the same file serves the upload; it dies between storing and committing.
	dying, err := database.Open(context.Background(), ta.app.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	up := reports.NewUploads(reports.NewStore(dying), closingStore{Store: ta.app.Media, onPut: func() { dying.Close() }},
		1<<20, time.Now, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	app := httpx.NewApp(slog.New(slog.NewJSONHandler(io.Discard, nil)), httpx.AppOptions{StreamRequestBody: true})
	reports.NewUploadHandler(up, nil).Routes(app, ta.app.AuthHTTP.RequireUser)
	body, ct := uploadBody(meta(taskRef), makeMP4(8192), false)
	req := httptest.NewRequest(http.MethodPost, "/reports/upload", body)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ct)
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if keys := ta.videos(t); len(keys) != 0 {
		t.Fatalf("the object outlived the failed commit: %v", keys)
	}
	if s := ta.reportStatus(t, taskRef); s != 1 {
		t.Fatalf("report status %d after a failed commit", s)
	}
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

func TestUpload_MinIODyingMidRequestLeavesTheReportUntouched(t *testing.T) {
	raw := testBucketURL(t)
	u, _ := url.Parse(raw)
	// Let the bucket be created through a healthy path first, then go through a proxy that cuts uploads.
	healthy := newTestApp(t, "", "FL_MEDIA_URL", raw)
	p := startProxy(t, u.Host, 256<<10)
	u.Host = p.ln.Addr().String()
	ta := newTestApp(t, "", "FL_MEDIA_URL", u.String())
	tok := ta.login(demoBIN, director("minio-dies")).str("access_token")
	a := ta.upload(tok, meta(taskRef), makeMP4(4<<20), false)
	wantStatus(t, a, 503, "unavailable")
	if s := ta.reportStatus(t, taskRef); s != 1 {
		t.Fatalf("report status %d", s)
	}
	if n := ta.count(t, `SELECT count(*) FROM uploads`); n != 0 {
		t.Fatalf("%d upload rows", n)
	}
	var keys []string
	_ = healthy.app.Media.List(context.Background(), "videos/", func(o media.Object) error { keys = append(keys, o.Key); return nil })
	if len(keys) != 0 {
		t.Fatalf("a partial object was left: %v", keys)
	}
}

func TestUpload_SweeperRemovesOnlyOrphans(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("sweep")).str("access_token")
		wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(4096), false), 201, "")
		orphan := "videos/1/orphan.mp4"
		if _, err := ta.app.Media.Put(context.Background(), orphan, bytes.NewReader(makeMP4(100)), 100, "video/mp4"); err != nil {
			t.Fatal(err)
		}
		if n, err := ta.app.Uploads.SweepOrphans(context.Background(), 0); err != nil || n != 1 {
			t.Fatalf("swept %d, %v", n, err)
		}
		keys := ta.videos(t)
		if len(keys) != 1 || keys[0] == orphan {
			t.Fatalf("after sweep: %v", keys)
		}
	})
}

func TestUpload_RefusedBeforeTheBodyIsReadAnswersCleanly(t *testing.T) {
	ta := newTestApp(t, "")
	// A bad token is refused before the handler reads the video: the unread megabyte must not be
	// taken for the next request on the connection.
	a := ta.upload("not-a-token", meta(taskRef), makeMP4(1<<20), false)
	wantStatus(t, a, 401, "")
	if s := ta.reportStatus(t, taskRef); s != 1 {
		t.Fatalf("report status %d", s)
	}
}

func TestOneC_RefusedCredentialsWithALargeBatchAnswerCleanly(t *testing.T) {
	ta := newTestApp(t, "")
	big := strings.Repeat(`{"biin":"000000000000","name":"x"},`, 20000)
	a := ta.do(http.MethodPut, "/1c/companies", strings.NewReader("["+strings.TrimSuffix(big, ",")+"]"),
		"Content-Type", "application/json", "Authorization", "Basic d3Jvbmc6d3Jvbmc=")
	wantStatus(t, a, 401, "")
}

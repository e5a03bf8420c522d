package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/media"
)

// tusMeta encodes Upload-Metadata as tus clients do: "key base64,key base64".
func tusMeta(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(kv[k])))
	}
	return strings.Join(parts, ",")
}

func tusFields(ref string) map[string]string {
	return map[string]string{"ref_key": ref, "time_sent": "2026-03-03 10:15:00", "lat": "43.238949", "long": "76.889709", "odometer": "120345", "filename": "inspection.mp4"}
}

func (ta *testApp) tusCreate(tok string, size int, fields map[string]string, extra ...string) answer {
	h := append([]string{"Authorization", "Bearer " + tok, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(size), "Upload-Metadata", tusMeta(fields)}, extra...)
	return ta.do(http.MethodPost, "/reports/uploads", nil, h...)
}

// tusPath is the path of an upload's Location (absolute under FL_PUBLIC_URL).
func tusPath(t *testing.T, a answer) string {
	t.Helper()
	loc := a.hdr.Get("Location")
	const base = "https://api.example.kz"
	if !strings.HasPrefix(loc, base+"/reports/uploads/") {
		t.Fatalf("Location %q is not under FL_PUBLIC_URL/reports/uploads/ (%d %s)", loc, a.code, a.raw)
	}
	return strings.TrimPrefix(loc, base)
}

func (ta *testApp) tusPatch(tok, path string, offset int, chunk []byte) answer {
	return ta.do(http.MethodPatch, path, bytes.NewReader(chunk), "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(offset))
}

func (ta *testApp) tusHead(tok, path string) answer {
	return ta.do(http.MethodHead, path, nil, "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0")
}

func (ta *testApp) uploadRows(t *testing.T) int { return ta.count(t, `SELECT count(*) FROM uploads`) }

func TestTus_DiscoveryAnswersTheProtocol(t *testing.T) {
	ta := newTestApp(t, "")
	a := ta.do(http.MethodOptions, "/reports/uploads", nil)
	if a.code != 204 || a.hdr.Get("Tus-Resumable") != "1.0.0" || a.hdr.Get("Tus-Version") != "1.0.0" ||
		a.hdr.Get("Tus-Extension") != "creation,creation-with-upload,termination,expiration" ||
		a.hdr.Get("Tus-Max-Size") != strconv.Itoa(64<<20) {
		t.Fatalf("OPTIONS: %d %v", a.code, a.hdr)
	}
}

func TestTus_UploadInChunksCommitsLikeThePlainEndpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("tus")).str("access_token")
		video := makeMP4(11<<20 + 12345) // more than one S3 part, and a tail
		sum := sha256.Sum256(video)
		fields := tusFields(taskRef)
		fields["sha256"] = hex.EncodeToString(sum[:])
		c := ta.tusCreate(tok, len(video), fields)
		if c.code != 201 {
			t.Fatalf("create: %d %s", c.code, c.raw)
		}
		if _, err := time.Parse(http.TimeFormat, c.hdr.Get("Upload-Expires")); err != nil {
			t.Fatalf("Upload-Expires %q", c.hdr.Get("Upload-Expires"))
		}
		path := tusPath(t, c)
		h := ta.tusHead(tok, path)
		if h.code != 200 || h.hdr.Get("Upload-Offset") != "0" || h.hdr.Get("Upload-Length") != strconv.Itoa(len(video)) || h.hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("HEAD: %d %v", h.code, h.hdr)
		}
		// A wrong offset is refused and changes nothing.
		wantStatus(t, ta.tusPatch(tok, path, 5, video[5:100]), 409, "mismatched_offset")
		off := 0
		for _, n := range []int{3 << 20, 4 << 20, 1 << 20, len(video) - 8<<20} {
			p := ta.tusPatch(tok, path, off, video[off:off+n])
			off += n
			if p.code != 204 || p.hdr.Get("Upload-Offset") != strconv.Itoa(off) {
				t.Fatalf("PATCH to %d: %d %s %v", off, p.code, p.raw, p.hdr)
			}
			if off < len(video) {
				if s := ta.reportStatus(t, taskRef); s != 1 {
					t.Fatalf("report status %d before the last byte", s)
				}
				if _, err := time.Parse(http.TimeFormat, p.hdr.Get("Upload-Expires")); err != nil {
					t.Fatalf("PATCH Upload-Expires %q", p.hdr.Get("Upload-Expires"))
				}
			}
		}
		// The last PATCH answered only after the commit.
		if s := ta.reportStatus(t, taskRef); s != 2 {
			t.Fatalf("report status %d after the last PATCH", s)
		}
		var row struct {
			Key  string `db:"object_key"`
			Size int64  `db:"size"`
			SHA  string `db:"sha256"`
		}
		if err := ta.app.DB.Get(&row, `SELECT object_key, size, sha256 FROM uploads`); err != nil {
			t.Fatal(err)
		}
		if row.Size != int64(len(video)) || row.SHA != hex.EncodeToString(sum[:]) {
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
		if n := ta.count(t, `SELECT count(*) FROM report_events WHERE status_code = 2 AND report_id = (SELECT id FROM reports WHERE ref_key = $1)`, taskRef); n != 1 {
			t.Fatalf("%d history events", n)
		}
		// A client that lost the last answer asks again and is told it is done.
		if h := ta.tusHead(tok, path); h.code != 200 || h.hdr.Get("Upload-Offset") != strconv.Itoa(len(video)) {
			t.Fatalf("HEAD after commit: %d %v", h.code, h.hdr)
		}
		if p := ta.tusPatch(tok, path, len(video), nil); p.code != 204 {
			t.Fatalf("PATCH after commit: %d %s", p.code, p.raw)
		}
		if ta.uploadRows(t) != 1 {
			t.Fatal("the upload was recorded twice")
		}
	})
}

func TestTus_CreationIsValidatedLikeThePlainEndpoint(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("tus-v")).str("access_token")
		bad := tusFields(taskRef)
		bad["lat"] = "91"
		delete(bad, "time_sent")
		bad["sha256"] = "xyz"
		a := ta.tusCreate(tok, 1000, bad)
		wantStatus(t, a, 400, "invalid")
		names := map[string]bool{}
		for _, f := range a.data()["fields"].([]any) {
			names[f.(map[string]any)["field"].(string)] = true
		}
		if !names["lat"] || !names["time_sent"] || !names["sha256"] {
			t.Fatalf("fields not named: %s", a.raw)
		}
		wantStatus(t, ta.tusCreate(tok, 1000, tusFields("no-such-report")), 404, "report_not_found")
		wantStatus(t, ta.tusCreate(tok, 64<<20+1, tusFields(taskRef)), 413, "file_too_large")
		wantStatus(t, ta.tusCreate("", 1000, tusFields(taskRef)), 401, "")
		// A report that does not wait for a video.
		if _, err := ta.app.DB.Exec(`UPDATE reports SET status_code = 3 WHERE ref_key = $1`, taskRef); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, ta.tusCreate(tok, 1000, tusFields(taskRef)), 409, "report_not_awaiting_video")
		if n := ta.count(t, `SELECT count(*) FROM resumable_uploads`); n != 0 {
			t.Fatalf("%d uploads created by refused requests", n)
		}
	})
}

func TestTus_NotAVideoIsRefusedAndDiscarded(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("tus-415")).str("access_token")
		for name, head := range map[string][]byte{
			"png":  []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
			"heic": []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
		} {
			body := append(head, make([]byte, 1000)...)
			c := ta.tusCreate(tok, len(body), tusFields(taskRef))
			path := tusPath(t, c)
			p := ta.tusPatch(tok, path, 0, body)
			if p.code != 415 {
				t.Fatalf("%s: PATCH %d %s", name, p.code, p.raw)
			}
			wantStatus(t, ta.tusHead(tok, path), 404, "")
		}
		if n := ta.count(t, `SELECT count(*) FROM resumable_uploads`); n != 0 {
			t.Fatalf("%d uploads left", n)
		}
		// The plain endpoint refuses a photo too.
		photo := append([]byte("\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif"), make([]byte, 1000)...)
		wantStatus(t, ta.upload(tok, meta(taskRef), photo, false), 415, "not_a_video")
	})
}

func TestTus_ChecksumMismatchAnswers460AndDiscards(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("tus-460")).str("access_token")
		video := makeMP4(200 << 10)
		fields := tusFields(taskRef)
		fields["sha256"] = strings.Repeat("ab", 32)
		path := tusPath(t, ta.tusCreate(tok, len(video), fields))
		wantStatus(t, ta.tusPatch(tok, path, 0, video), 460, "checksum_mismatch")
		if s := ta.reportStatus(t, taskRef); s != 1 || ta.uploadRows(t) != 0 {
			t.Fatalf("report %d, %d uploads after a mismatch", s, ta.uploadRows(t))
		}
		wantStatus(t, ta.tusHead(tok, path), 404, "")
	})
}

func TestTus_ReportDecidedMeanwhileAnswers409AndDiscards(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoBIN, director("tus-409")).str("access_token")
		video := makeMP4(300 << 10)
		path := tusPath(t, ta.tusCreate(tok, len(video), tusFields(taskRef)))
		if p := ta.tusPatch(tok, path, 0, video[:1000]); p.code != 204 {
			t.Fatalf("first PATCH %d %s", p.code, p.raw)
		}
		// Another device uploads the report's video meanwhile.
		wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(1000), false), 201, "")
		wantStatus(t, ta.tusPatch(tok, path, 1000, video[1000:]), 409, "report_not_awaiting_video")
		wantStatus(t, ta.tusHead(tok, path), 404, "")
		if ta.uploadRows(t) != 1 {
			t.Fatal("the refused upload was recorded")
		}
	})
}

func TestTus_OwnershipAndTermination(t *testing.T) {
	eachStore(t, func(t *testing.T, ta *testApp) {
		login := ta.login(demoBIN, director("tus-own"))
		tok := login.str("access_token")
		video := makeMP4(100 << 10)
		path := tusPath(t, ta.tusCreate(tok, len(video), tusFields(taskRef)))
		if p := ta.tusPatch(tok, path, 0, video[:5000]); p.code != 204 {
			t.Fatalf("PATCH %d %s", p.code, p.raw)
		}
		// Another company sees nothing.
		other := ta.login(demoIIN, director("tus-other")).str("access_token")
		wantStatus(t, ta.tusHead(other, path), 404, "")
		wantStatus(t, ta.tusPatch(other, path, 5000, video[5000:]), 404, "upload_not_found")
		// A refreshed token of the same user continues.
		r := ta.do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+login.str("refresh_token"))
		if r.code != 200 {
			t.Fatalf("refresh %d %s", r.code, r.raw)
		}
		fresh := r.str("access_token")
		if h := ta.tusHead(fresh, path); h.hdr.Get("Upload-Offset") != "5000" {
			t.Fatalf("HEAD with the refreshed token: %d %v", h.code, h.hdr)
		}
		del := ta.do(http.MethodDelete, path, nil, "Authorization", "Bearer "+fresh, "Tus-Resumable", "1.0.0")
		if del.code != 204 {
			t.Fatalf("DELETE %d %s", del.code, del.raw)
		}
		wantStatus(t, ta.tusHead(fresh, path), 404, "")
		if n := ta.count(t, `SELECT count(*) FROM resumable_uploads`); n != 0 {
			t.Fatalf("%d rows after DELETE", n)
		}
		ta.assertNoTusBytes(t)
	})
}

// assertNoTusBytes checks that nothing of a resumable upload is left: no file or object under tus/,
// and on MinIO no multipart upload in progress.
func (ta *testApp) assertNoTusBytes(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var left []string
	if err := ta.app.Media.List(ctx, "tus/", func(o media.Object) error { left = append(left, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if s3, ok := ta.app.Media.(*media.S3); ok {
		client, bucket, err := s3.Raw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for u := range client.ListIncompleteUploads(ctx, bucket, "tus/", true) {
			left = append(left, "multipart "+u.Key)
		}
	}
	if len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// Two identical uploads with one Idempotency-Key sent at once (a phone retrying on a dropped link):
// both are told 201, one upload is stored.
func TestUpload_ConcurrentRetriesWithOneKeyBothSucceed(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		base := ta.listen()
		tok := ta.login(demoBIN, director("idem-race")).str("access_token")
		for round := 0; round < 5; round++ {
			if _, err := ta.app.DB.Exec(`UPDATE reports SET status_code = 1 WHERE ref_key = $1`, taskRef); err != nil {
				t.Fatal(err)
			}
			key := "race-" + strconv.Itoa(round)
			video := makeMP4(256 << 10)
			codes := make([]int, 2)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, ct := uploadBody(meta(taskRef), video, false)
					req, _ := http.NewRequest(http.MethodPost, base+"/reports/upload", body)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", ct)
					req.Header.Set("Idempotency-Key", key)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					codes[i] = resp.StatusCode
				}()
			}
			wg.Wait()
			if codes[0] != 201 || codes[1] != 201 {
				t.Fatalf("round %d: answers %v, want [201 201]", round, codes)
			}
			if n := ta.count(t, `SELECT count(*) FROM uploads WHERE idempotency_key = $1`, key); n != 1 {
				t.Fatalf("round %d: %d uploads stored", round, n)
			}
		}
		ta.eventuallyVideos(t, 5)
	})
}

// eventuallyVideos waits until exactly n videos are in the store (a refused racer's copy is removed
// after its answer).
func (ta *testApp) eventuallyVideos(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := len(ta.videos(t))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d videos stored, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

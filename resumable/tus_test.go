package resumable_test

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
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/onec"
)

const taskRef = onec.DemoTaskRefKey // status 1 in the demo data, company BIN

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

func tusCreate(ta *apptest.App, tok string, size int, fields map[string]string, extra ...string) apptest.Answer {
	h := append([]string{"Authorization", "Bearer " + tok, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(size), "Upload-Metadata", tusMeta(fields)}, extra...)
	return ta.Do(http.MethodPost, "/reports/uploads", nil, h...)
}

// tusPath is the path of an upload's Location (absolute under FL_PUBLIC_URL).
func tusPath(t *testing.T, a apptest.Answer) string {
	t.Helper()
	loc := a.Header.Get("Location")
	const base = "https://api.example.kz"
	if !strings.HasPrefix(loc, base+"/reports/uploads/") {
		t.Fatalf("Location %q is not under FL_PUBLIC_URL/reports/uploads/ (%d %s)", loc, a.Code, a.Raw)
	}
	return strings.TrimPrefix(loc, base)
}

func tusPatch(ta *apptest.App, tok, path string, offset int, chunk []byte) apptest.Answer {
	return ta.Do(http.MethodPatch, path, bytes.NewReader(chunk), "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(offset))
}

func tusHead(ta *apptest.App, tok, path string) apptest.Answer {
	return ta.Do(http.MethodHead, path, nil, "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0")
}

func uploadRows(t *testing.T, ta *apptest.App) int {
	return apptest.Count(t, ta, `SELECT count(*) FROM uploads`)
}

func TestTus_DiscoveryAnswersTheProtocol(t *testing.T) {
	ta := apptest.New(t, "")
	a := ta.Do(http.MethodOptions, "/reports/uploads", nil)
	if a.Code != 204 || a.Header.Get("Tus-Resumable") != "1.0.0" || a.Header.Get("Tus-Version") != "1.0.0" ||
		a.Header.Get("Tus-Extension") != "creation,creation-with-upload,termination,expiration" ||
		a.Header.Get("Tus-Max-Size") != strconv.Itoa(64<<20) {
		t.Fatalf("OPTIONS: %d %v", a.Code, a.Header)
	}
}

func TestTus_UploadInChunksCommitsLikeThePlainEndpoint(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("tus")).Str("access_token")
		video := apptest.MP4(11<<20 + 12345) // more than one S3 part, and a tail
		sum := sha256.Sum256(video)
		fields := tusFields(taskRef)
		fields["sha256"] = hex.EncodeToString(sum[:])
		c := tusCreate(ta, tok, len(video), fields)
		if c.Code != 201 {
			t.Fatalf("create: %d %s", c.Code, c.Raw)
		}
		if _, err := time.Parse(http.TimeFormat, c.Header.Get("Upload-Expires")); err != nil {
			t.Fatalf("Upload-Expires %q", c.Header.Get("Upload-Expires"))
		}
		path := tusPath(t, c)
		h := tusHead(ta, tok, path)
		if h.Code != 200 || h.Header.Get("Upload-Offset") != "0" || h.Header.Get("Upload-Length") != strconv.Itoa(len(video)) || h.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("HEAD: %d %v", h.Code, h.Header)
		}
		// A wrong offset is refused and changes nothing.
		apptest.WantStatus(t, tusPatch(ta, tok, path, 5, video[5:100]), 409, "mismatched_offset")
		off := 0
		for _, n := range []int{3 << 20, 4 << 20, 1 << 20, len(video) - 8<<20} {
			p := tusPatch(ta, tok, path, off, video[off:off+n])
			off += n
			if p.Code != 204 || p.Header.Get("Upload-Offset") != strconv.Itoa(off) {
				t.Fatalf("PATCH to %d: %d %s %v", off, p.Code, p.Raw, p.Header)
			}
			if off < len(video) {
				if s := reportStatus(t, ta, taskRef); s != 1 {
					t.Fatalf("report status %d before the last byte", s)
				}
				if _, err := time.Parse(http.TimeFormat, p.Header.Get("Upload-Expires")); err != nil {
					t.Fatalf("PATCH Upload-Expires %q", p.Header.Get("Upload-Expires"))
				}
			}
		}
		// The last PATCH answered only after the commit.
		if s := reportStatus(t, ta, taskRef); s != 2 {
			t.Fatalf("report status %d after the last PATCH", s)
		}
		var row struct {
			Key  string `db:"object_key"`
			Size int64  `db:"size"`
			SHA  string `db:"sha256"`
		}
		if err := ta.DB.Get(&row, `SELECT object_key, size, sha256 FROM uploads`); err != nil {
			t.Fatal(err)
		}
		if row.Size != int64(len(video)) || row.SHA != hex.EncodeToString(sum[:]) {
			t.Fatalf("upload row %+v", row)
		}
		rc, _, err := ta.Media.Open(context.Background(), row.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, video) {
			t.Fatal("stored bytes differ from the upload")
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM report_events WHERE status_code = 2 AND report_id = (SELECT id FROM reports WHERE ref_key = $1)`, taskRef); n != 1 {
			t.Fatalf("%d history events", n)
		}
		// A client that lost the last answer asks again and is told it is done.
		if h := tusHead(ta, tok, path); h.Code != 200 || h.Header.Get("Upload-Offset") != strconv.Itoa(len(video)) {
			t.Fatalf("HEAD after commit: %d %v", h.Code, h.Header)
		}
		if p := tusPatch(ta, tok, path, len(video), nil); p.Code != 204 {
			t.Fatalf("PATCH after commit: %d %s", p.Code, p.Raw)
		}
		if uploadRows(t, ta) != 1 {
			t.Fatal("the upload was recorded twice")
		}
	})
}

func TestTus_CreationIsValidatedLikeThePlainEndpoint(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("tus-v")).Str("access_token")
		bad := tusFields(taskRef)
		bad["lat"] = "91"
		delete(bad, "time_sent")
		bad["sha256"] = "xyz"
		a := tusCreate(ta, tok, 1000, bad)
		apptest.WantStatus(t, a, 400, "invalid")
		names := map[string]bool{}
		for _, f := range a.Data()["fields"].([]any) {
			names[f.(map[string]any)["field"].(string)] = true
		}
		if !names["lat"] || !names["time_sent"] || !names["sha256"] {
			t.Fatalf("fields not named: %s", a.Raw)
		}
		apptest.WantStatus(t, tusCreate(ta, tok, 1000, tusFields("no-such-report")), 404, "report_not_found")
		apptest.WantStatus(t, tusCreate(ta, tok, 64<<20+1, tusFields(taskRef)), 413, "file_too_large")
		apptest.WantStatus(t, tusCreate(ta, "", 1000, tusFields(taskRef)), 401, "")
		// A report that does not wait for a video.
		if _, err := ta.DB.Exec(`UPDATE reports SET status_code = 3 WHERE ref_key = $1`, taskRef); err != nil {
			t.Fatal(err)
		}
		apptest.WantStatus(t, tusCreate(ta, tok, 1000, tusFields(taskRef)), 409, "report_not_awaiting_video")
		if n := apptest.Count(t, ta, `SELECT count(*) FROM resumable_uploads`); n != 0 {
			t.Fatalf("%d uploads created by refused requests", n)
		}
	})
}

func TestTus_NotAVideoIsRefusedAndDiscarded(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("tus-415")).Str("access_token")
		for name, head := range map[string][]byte{
			"png":  []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
			"heic": []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
		} {
			body := append(head, make([]byte, 1000)...)
			c := tusCreate(ta, tok, len(body), tusFields(taskRef))
			path := tusPath(t, c)
			p := tusPatch(ta, tok, path, 0, body)
			if p.Code != 415 {
				t.Fatalf("%s: PATCH %d %s", name, p.Code, p.Raw)
			}
			apptest.WantStatus(t, tusHead(ta, tok, path), 404, "")
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM resumable_uploads`); n != 0 {
			t.Fatalf("%d uploads left", n)
		}
		// The plain endpoint refuses a photo too.
		photo := append([]byte("\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif"), make([]byte, 1000)...)
		apptest.WantStatus(t, plainUpload(ta, tok, taskRef, photo), 415, "not_a_video")
	})
}

func TestTus_ChecksumMismatchAnswers460AndDiscards(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("tus-460")).Str("access_token")
		video := apptest.MP4(200 << 10)
		fields := tusFields(taskRef)
		fields["sha256"] = strings.Repeat("ab", 32)
		path := tusPath(t, tusCreate(ta, tok, len(video), fields))
		apptest.WantStatus(t, tusPatch(ta, tok, path, 0, video), 460, "checksum_mismatch")
		if s := reportStatus(t, ta, taskRef); s != 1 || uploadRows(t, ta) != 0 {
			t.Fatalf("report %d, %d uploads after a mismatch", s, uploadRows(t, ta))
		}
		apptest.WantStatus(t, tusHead(ta, tok, path), 404, "")
	})
}

func TestTus_ReportDecidedMeanwhileAnswers409AndDiscards(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("tus-409")).Str("access_token")
		video := apptest.MP4(300 << 10)
		path := tusPath(t, tusCreate(ta, tok, len(video), tusFields(taskRef)))
		if p := tusPatch(ta, tok, path, 0, video[:1000]); p.Code != 204 {
			t.Fatalf("first PATCH %d %s", p.Code, p.Raw)
		}
		// Another device uploads the report's video meanwhile.
		apptest.WantStatus(t, plainUpload(ta, tok, taskRef, apptest.MP4(1000)), 201, "")
		apptest.WantStatus(t, tusPatch(ta, tok, path, 1000, video[1000:]), 409, "report_not_awaiting_video")
		apptest.WantStatus(t, tusHead(ta, tok, path), 404, "")
		if uploadRows(t, ta) != 1 {
			t.Fatal("the refused upload was recorded")
		}
	})
}

func TestTus_OwnershipAndTermination(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		login := ta.Login(apptest.DemoBIN, apptest.Director("tus-own"))
		tok := login.Str("access_token")
		video := apptest.MP4(100 << 10)
		path := tusPath(t, tusCreate(ta, tok, len(video), tusFields(taskRef)))
		if p := tusPatch(ta, tok, path, 0, video[:5000]); p.Code != 204 {
			t.Fatalf("PATCH %d %s", p.Code, p.Raw)
		}
		// Another company sees nothing.
		other := ta.Login(apptest.DemoIIN, apptest.Director("tus-other")).Str("access_token")
		apptest.WantStatus(t, tusHead(ta, other, path), 404, "")
		apptest.WantStatus(t, tusPatch(ta, other, path, 5000, video[5000:]), 404, "upload_not_found")
		// A refreshed token of the same user continues.
		r := ta.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+login.Str("refresh_token"))
		if r.Code != 200 {
			t.Fatalf("refresh %d %s", r.Code, r.Raw)
		}
		fresh := r.Str("access_token")
		if h := tusHead(ta, fresh, path); h.Header.Get("Upload-Offset") != "5000" {
			t.Fatalf("HEAD with the refreshed token: %d %v", h.Code, h.Header)
		}
		del := ta.Do(http.MethodDelete, path, nil, "Authorization", "Bearer "+fresh, "Tus-Resumable", "1.0.0")
		if del.Code != 204 {
			t.Fatalf("DELETE %d %s", del.Code, del.Raw)
		}
		apptest.WantStatus(t, tusHead(ta, fresh, path), 404, "")
		if n := apptest.Count(t, ta, `SELECT count(*) FROM resumable_uploads`); n != 0 {
			t.Fatalf("%d rows after DELETE", n)
		}
		assertNoTusBytes(t, ta)
	})
}

// assertNoTusBytes checks that nothing of a resumable upload is left.
func assertNoTusBytes(t *testing.T, ta *apptest.App) {
	t.Helper()
	if left := tusLeft(t, ta); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// tusLeft lists the files or objects under tus/ and, on MinIO, the multipart uploads in progress.
func tusLeft(t *testing.T, ta *apptest.App) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	if err := ta.Media.List(ctx, "tus/", func(o media.Object) error { left = append(left, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if s3, ok := ta.Media.(*media.S3); ok {
		client, bucket, err := s3.Raw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// MinIO lists multipart uploads by exact key only: this finds those of listed keys' prefix on
		// S3 proper; tests that must know check a key with multipartUploads.
		for u := range client.ListIncompleteUploads(ctx, bucket, "tus/", true) {
			left = append(left, "multipart "+u.Key)
		}
	}
	return left
}

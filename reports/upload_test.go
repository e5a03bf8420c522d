package reports_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/deptest"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/reports"
)

func reportStatus(t *testing.T, ta *apptest.App, ref string) int {
	return apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}

func TestUpload_StoresTheVideoAndMovesTheReportToSent(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("up")).Str("access_token")
		video := apptest.MP4(300 << 10)
		a := ta.Upload(tok, apptest.Meta(apptest.TaskRef), video, false)
		apptest.WantStatus(t, a, 201, "")
		requireSeedShape(t, "upload", a.Body)
		if s := reportStatus(t, ta, apptest.TaskRef); s != 2 {
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
		if err := ta.DB.Get(&row, `SELECT object_key, size, sha256, lat, odometer, uploader_id FROM uploads`); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(video)
		if row.Size != int64(len(video)) || row.SHA != hex.EncodeToString(sum[:]) || row.Lat != 43.238949 || row.Odo != 120345 {
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
		// Only status 1 or 4 takes a video.
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), video, false), 409, "report_not_awaiting_video")
		if n := len(videos(t, ta)); n != 1 {
			t.Fatalf("%d videos stored after a refused second upload", n)
		}
	})
}

func TestUpload_FieldsAfterTheFileAreFine(t *testing.T) {
	ta := apptest.New(t, "")
	tok := ta.Login(apptest.DemoBIN, apptest.Director("late-fields")).Str("access_token")
	apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), true), 201, "")
}

func TestUpload_RefusesBadFilesAndLeavesNothing(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("bad")).Str("access_token")
		notMP4 := append([]byte("GIF89a this is not a video at all"), make([]byte, 4096)...)
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), notMP4, false), 415, "not_mp4")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), []byte{}, false), 400, "empty_file")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(64<<10+1), false), 413, "file_too_large")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(64<<10+1), true), 413, "file_too_large")
		if keys := videos(t, ta); len(keys) != 0 {
			t.Fatalf("refused uploads left %v", keys)
		}
		if s := reportStatus(t, ta, apptest.TaskRef); s != 1 {
			t.Fatalf("status %d after refused uploads", s)
		}
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(64<<10), false), 201, "") // exactly the limit
	}, "FL_UPLOAD_MAX_BYTES", "65536")
}

func TestUpload_MissingAndMalformedFieldsAreNamed(t *testing.T) {
	ta := apptest.New(t, "")
	tok := ta.Login(apptest.DemoBIN, apptest.Director("fields")).Str("access_token")
	a := ta.Upload(tok, nil, nil, false)
	apptest.WantStatus(t, a, 400, "invalid")
	for _, f := range []string{"file", "ref_key", "time_sent", "lat", "long"} {
		if !strings.Contains(string(a.Raw), `"field":"`+f+`"`) {
			t.Errorf("no error for %s: %s", f, a.Raw)
		}
	}
	bad := []apptest.Part{{"ref_key", apptest.TaskRef}, {"time_sent", "03.03.2026"}, {"lat", "91"}, {"long", "abc"}, {"odometer", "-5"}}
	a = ta.Upload(tok, bad, apptest.MP4(4096), true)
	apptest.WantStatus(t, a, 400, "invalid")
	for _, f := range []string{"time_sent", "lat", "long", "odometer"} {
		if !strings.Contains(string(a.Raw), `"field":"`+f+`"`) {
			t.Errorf("no error for %s: %s", f, a.Raw)
		}
	}
	if len(videos(t, ta)) != 0 || reportStatus(t, ta, apptest.TaskRef) != 1 {
		t.Fatal("a refused upload changed something")
	}
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/reports/upload", strings.NewReader(`{"ref_key":"x"}`),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json"), 400, "multipart_required")
	apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false, "Idempotency-Key", strings.Repeat("k", 200)), 400, "invalid_idempotency_key")
}

func TestUpload_AnotherCompanysReportIsNotFound(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		other := ta.Login(apptest.DemoIIN, apptest.Director("thief")).Str("access_token")
		apptest.WantStatus(t, ta.Upload(other, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false), 404, "report_not_found")
		apptest.WantStatus(t, ta.Upload(other, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), true), 404, "report_not_found")
		if len(videos(t, ta)) != 0 || reportStatus(t, ta, apptest.TaskRef) != 1 {
			t.Fatal("another company's upload changed something")
		}
	})
}

func TestUpload_RetryWithTheSameKeyStoresOnce(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("idem")).Str("access_token")
		video := apptest.MP4(8192)
		for i := 0; i < 3; i++ {
			apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), video, false, "Idempotency-Key", "upload-42"), 201, "")
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM uploads`); n != 1 {
			t.Fatalf("%d upload rows", n)
		}
		if n := len(videos(t, ta)); n != 1 {
			t.Fatalf("%d objects", n)
		}
	})
}

func TestUpload_ConcurrentUploadsForOneReportHaveOneWinner(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		// Three users, two uploads each: within the per-user cap of concurrent uploads.
		toks := []string{ta.Login(apptest.DemoBIN, apptest.Director("race")).Str("access_token"),
			ta.Login(apptest.DemoBIN, apptest.Employee("race-e1", "+77010000001", "Один")).Str("access_token"),
			ta.Login(apptest.DemoBIN, apptest.Employee("race-e2", "+77010000002", "Два")).Str("access_token")}
		var wg sync.WaitGroup
		var created, conflicts atomic.Int32
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				a := ta.Upload(toks[i%3], apptest.Meta(apptest.TaskRef), apptest.MP4(64<<10), false, "Idempotency-Key", fmt.Sprintf("k-%d", i))
				switch a.Code {
				case 201:
					created.Add(1)
				case 409:
					conflicts.Add(1)
				default:
					t.Errorf("status %d %s", a.Code, a.Raw)
				}
			}(i)
		}
		wg.Wait()
		if created.Load() != 1 || conflicts.Load() != 5 {
			t.Fatalf("created %d, conflicts %d", created.Load(), conflicts.Load())
		}
		if n := len(videos(t, ta)); n != 1 {
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
	ta := apptest.New(t, "")
	tok := ta.Login(apptest.DemoBIN, apptest.Director("dbfail")).Str("access_token")
	// A second database handle on the same file serves the upload; it dies between storing and committing.
	dying, err := database.Open(context.Background(), ta.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	up := reports.NewUploads(reports.NewStore(dying), closingStore{Store: ta.Media, onPut: func() { dying.Close() }},
		1<<20, time.Now, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	app := httpx.NewApp(slog.New(slog.NewJSONHandler(io.Discard, nil)), httpx.AppOptions{StreamRequestBody: true})
	reports.NewUploadHandler(up, nil).Routes(app, ta.AuthHTTP.RequireUser)
	body, ct := apptest.UploadBody(apptest.Meta(apptest.TaskRef), apptest.MP4(8192), false)
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
	if keys := videos(t, ta); len(keys) != 0 {
		t.Fatalf("the object outlived the failed commit: %v", keys)
	}
	if s := reportStatus(t, ta, apptest.TaskRef); s != 1 {
		t.Fatalf("report status %d after a failed commit", s)
	}
}

func TestUpload_MinIODyingMidRequestLeavesTheReportUntouched(t *testing.T) {
	raw := apptest.BucketURL(t)
	u, _ := url.Parse(raw)
	// Let the bucket be created through a healthy path first, then go through a proxy that cuts uploads.
	healthy := apptest.New(t, "", "FL_MEDIA_URL", raw)
	p := deptest.StartProxy(t, u.Host, 256<<10)
	u.Host = p.Addr()
	ta := apptest.New(t, "", "FL_MEDIA_URL", u.String())
	tok := ta.Login(apptest.DemoBIN, apptest.Director("minio-dies")).Str("access_token")
	a := ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4<<20), false)
	apptest.WantStatus(t, a, 503, "unavailable")
	if s := reportStatus(t, ta, apptest.TaskRef); s != 1 {
		t.Fatalf("report status %d", s)
	}
	if n := apptest.Count(t, ta, `SELECT count(*) FROM uploads`); n != 0 {
		t.Fatalf("%d upload rows", n)
	}
	var keys []string
	_ = healthy.Media.List(context.Background(), "videos/", func(o media.Object) error { keys = append(keys, o.Key); return nil })
	if len(keys) != 0 {
		t.Fatalf("a partial object was left: %v", keys)
	}
}

func TestUpload_SweeperRemovesOnlyOrphans(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("sweep")).Str("access_token")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false), 201, "")
		orphan := "videos/1/orphan.mp4"
		if _, err := ta.Media.Put(context.Background(), orphan, bytes.NewReader(apptest.MP4(100)), 100, "video/mp4"); err != nil {
			t.Fatal(err)
		}
		if n, err := ta.Uploads.SweepOrphans(context.Background(), 0); err != nil || n != 1 {
			t.Fatalf("swept %d, %v", n, err)
		}
		keys := videos(t, ta)
		if len(keys) != 1 || keys[0] == orphan {
			t.Fatalf("after sweep: %v", keys)
		}
	})
}

func TestUpload_RefusedBeforeTheBodyIsReadAnswersCleanly(t *testing.T) {
	ta := apptest.New(t, "")
	// A bad token is refused before the handler reads the video: the unread megabyte must not be
	// taken for the next request on the connection.
	a := ta.Upload("not-a-token", apptest.Meta(apptest.TaskRef), apptest.MP4(1<<20), false)
	apptest.WantStatus(t, a, 401, "")
	if s := reportStatus(t, ta, apptest.TaskRef); s != 1 {
		t.Fatalf("report status %d", s)
	}
}

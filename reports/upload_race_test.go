package reports_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media"
)

// Two identical uploads with one Idempotency-Key sent at once (a phone retrying on a dropped link):
// both are told 201, one upload is stored.
func TestUpload_ConcurrentRetriesWithOneKeyBothSucceed(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		base := ta.Listen()
		tok := ta.Token(apptest.DemoBIN, apptest.Director("idem-race"))
		for round := 0; round < 5; round++ {
			if _, err := ta.DB.Exec(`UPDATE reports SET status_code = 1 WHERE ref_key = $1`, apptest.TaskRef); err != nil {
				t.Fatal(err)
			}
			key := "race-" + strconv.Itoa(round)
			video := apptest.MP4(256 << 10)
			codes := make([]int, 2)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, ct := multipartUpload(video)
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
			if n := countUploads(t, ta, key); n != 1 {
				t.Fatalf("round %d: %d uploads stored", round, n)
			}
		}
		eventuallyVideos(t, ta, 5)
	})
}

// eventuallyVideos waits until exactly n videos are in the store (a refused racer's copy is removed
// after its answer).
func eventuallyVideos(t *testing.T, ta *apptest.App, n int) {
	t.Helper()
	apptest.Eventually(t, func() bool { return len(videos(t, ta)) == n }, "%d videos stored, want %d", len(videos(t, ta)), n)
}

func videos(t *testing.T, ta *apptest.App) []string {
	t.Helper()
	var keys []string
	if err := ta.Media.List(context.Background(), "videos/", func(o media.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func countUploads(t *testing.T, ta *apptest.App, key string) int {
	t.Helper()
	var n int
	if err := ta.DB.Get(&n, `SELECT count(*) FROM uploads WHERE idempotency_key = $1`, key); err != nil {
		t.Fatal(err)
	}
	return n
}

func multipartUpload(video []byte) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range [][2]string{{"ref_key", apptest.TaskRef}, {"time_sent", "2026-03-03 10:15:00"}, {"lat", "43.238949"}, {"long", "76.889709"}} {
		_ = w.WriteField(f[0], f[1])
	}
	fw, _ := w.CreateFormFile("file", "video.mp4")
	_, _ = fw.Write(video)
	w.Close()
	return &buf, w.FormDataContentType()
}

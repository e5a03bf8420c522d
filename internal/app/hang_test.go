package app_test

import (
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/deptest"
)

// timed is one request made while a dependency hung.
type timed struct {
	what string
	Code int
	took time.Duration
}

// Issue 12: with PostgreSQL stopped (SIGSTOP) every request hung for as long as it was stopped. Now
// each database call has a deadline (FL_DB_TIMEOUT, 5 s; statement_timeout; a bounded pool wait):
// with the defaults every request answers 503 within 10 s, and the service recovers by itself.
func TestFaults_PostgreSQLHungAnswers503Within10sThenRecovers(t *testing.T) {
	pg := deptest.Postgres(t)
	ta := apptest.New(t, pg.URL)
	t.Cleanup(pg.Resume) // before the app closes, should the test stop half-way
	base := ta.Listen()
	token := ta.Login(apptest.DemoBIN, apptest.Director("pg-hang")).Str("access_token")
	if a := ta.Get("/reports/general/filter", token); a.Code != 200 {
		t.Fatalf("before: %d %s", a.Code, a.Raw)
	}

	pg.Hang(t)
	requests := []struct {
		what string
		do   func() *http.Response
	}{
		{"list", func() *http.Response { return get(t, base+"/reports/general/filter", token) }},
		{"employees", func() *http.Response { return get(t, base+"/employee/list", token) }},
		{"otp", func() *http.Response {
			return postJSON(t, base+"/biin/"+apptest.DemoBIN, `{"role_id":1,"uuid":"pg-hang-2","FCM":"fcm-pg-hang-2"}`)
		}},
		{"readyz", func() *http.Response { return get(t, base+"/readyz", "") }},
	}
	var wg sync.WaitGroup
	results := make(chan timed, 4*len(requests))
	for round := 0; round < 4; round++ { // more than one pool connection is stuck
		for _, r := range requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				resp := r.do()
				results <- timed{r.what, resp.StatusCode, time.Since(start)}
			}()
		}
	}
	wg.Wait()
	close(results)
	var longest time.Duration
	for r := range results {
		longest = max(longest, r.took)
		if r.Code != 503 || r.took > 10*time.Second {
			t.Errorf("%s with PostgreSQL hung: %d after %s, want 503 within 10 s", r.what, r.Code, r.took)
		}
	}
	t.Logf("with PostgreSQL hung: 16 requests answered 503, the slowest after %s", longest.Round(time.Millisecond))

	pg.Resume()
	start := time.Now()
	apptest.Eventually(t, func() bool { return ta.Get("/reports/general/filter", token).Code == 200 }, "the list answers 200 again")
	t.Logf("recovered %s after SIGCONT, without a restart", time.Since(start).Round(time.Millisecond))
	ta.Login(apptest.DemoBIN, apptest.Director("pg-hang-after"))
}

// Issue 12: with MinIO stopped during an upload the upload hung. Each object-store call is now
// cancelled after FL_STORE_IDLE_TIMEOUT (default 30 s) without progress: the upload answers 503
// within 60 s, the report is unchanged, and the same upload succeeds once MinIO is back. Both ways a
// video reaches the store are hung: one PUT (a video of at most one part) and the parts a longer one
// is sent in while it arrives (media.S3.putStreamed), stopped after the first part went out.
func TestFaults_MinIOHungMidUploadAnswers503Within60sThenRecovers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		hangAfter int // bytes of the request body sent before MinIO is stopped
		env       []string
		within    time.Duration
	}{
		{"one PUT", 4 << 20, 2 << 20, nil, 60 * time.Second},
		{"streamed parts", 24 << 20, 14 << 20, []string{"FL_STORE_IDLE_TIMEOUT", "5s"}, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			minio := deptest.MinIO(t, "hang-test")
			ta := apptest.New(t, "", append([]string{"FL_MEDIA_URL", minio.URL}, tc.env...)...)
			t.Cleanup(minio.Resume)
			base := ta.Listen()
			token := ta.Login(apptest.DemoBIN, apptest.Director("s3-hang")).Str("access_token")
			body, ct := apptest.UploadBody(apptest.Meta(apptest.TaskRef), apptest.MP4(tc.size), false)
			raw, _ := io.ReadAll(body)

			conn := apptest.RawUpload(t, base, token, ct, len(raw))
			if _, err := conn.Write(raw[:tc.hangAfter]); err != nil {
				t.Fatal(err)
			}
			if tc.size > 8<<20 {
				// The first 8 MiB part has reached the store before it stops.
				apptest.Eventually(t, func() bool { return len(minioParts(t, minio)) > 0 }, "the first part reaches MinIO")
			}
			minio.Hang(t)
			start := time.Now()
			if _, err := conn.Write(raw[tc.hangAfter:]); err != nil {
				t.Fatal(err)
			}
			resp, b, err := apptest.ReadAnswer(conn, 90*time.Second)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("upload with MinIO hung: no answer after %s: %v", took, err)
			}
			t.Logf("upload with MinIO hung mid-upload: %d after %s", resp.StatusCode, took.Round(time.Millisecond))
			if resp.StatusCode != 503 || took > tc.within {
				t.Fatalf("upload with MinIO hung: %d after %s %s, want 503 within %s", resp.StatusCode, took, b, tc.within)
			}
			if reportStatus(t, ta, apptest.TaskRef) != 1 {
				t.Fatal("the report changed although its video was not stored")
			}

			minio.Resume()
			start = time.Now()
			apptest.Eventually(t, func() bool {
				return ta.Upload(token, apptest.Meta(apptest.TaskRef), apptest.MP4(tc.size), false, "Idempotency-Key", "after-hang").Code == 201
			}, "the upload succeeds again")
			t.Logf("upload succeeded %s after SIGCONT, without a restart", time.Since(start).Round(time.Millisecond))
		})
	}
}

// minioParts lists the part files m holds of unfinished multipart uploads (MinIO cannot list
// uploads by a key prefix, and the video's key is the service's).
func minioParts(t *testing.T, m *deptest.Server) []string {
	t.Helper()
	var parts []string
	_ = filepath.WalkDir(filepath.Join(m.Dir, ".minio.sys", "multipart"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "part.") {
			parts = append(parts, path)
		}
		return nil
	})
	return parts
}

func get(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

func postJSON(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return send(t, req)
}

// send makes the request with a client that gives up after a minute and reads the answer whole.
func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return &http.Response{StatusCode: 0}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

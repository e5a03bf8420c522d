package resumable_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/resumable"
)

// Unfinished uploads expire 24 h after their last PATCH: the sweep, on a clock moved past that,
// removes their files or aborts their multipart uploads; a younger upload and a committed video stay.
func TestTus_ExpiredUploadsAreSwept(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Token(apptest.DemoBIN, apptest.Director("sweep"))
		video := apptest.MP4(10<<20 + 5)
		old := tusPath(t, tusCreate(ta, tok, len(video), tusFields(taskRef)))
		if p := tusPatch(ta, tok, old, 0, video[:9<<20]); p.Code != 204 { // a part and a tail on S3
			t.Fatalf("PATCH %d %s", p.Code, p.Raw)
		}
		done := tusPath(t, tusCreate(ta, tok, len(video), tusFields(taskRef)))
		if p := tusPatch(ta, tok, done, 0, video); p.Code != 204 {
			t.Fatalf("PATCH %d %s", p.Code, p.Raw)
		}

		now := time.Now()
		clock := func() time.Time { return now }
		sweeper, err := resumable.New(context.Background(), ta.DB, ta.Uploads, ta.Media, resumable.Options{PublicURL: "https://api.example.kz", Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := sweeper.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("a sweep before expiry removed %d (%v)", n, err)
		}
		now = now.Add(23 * time.Hour)
		if n, err := sweeper.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("a sweep 23 h after the last PATCH removed %d (%v)", n, err)
		}
		now = now.Add(2 * time.Hour) // 25 h after it
		n, err := sweeper.Sweep(context.Background())
		if err != nil || n != 2 {
			t.Fatalf("the sweep removed %d (%v), want the expired upload and the committed one's bookkeeping", n, err)
		}
		apptest.WantStatus(t, tusHead(ta, tok, old), 404, "")
		if apptest.Count(t, ta, `SELECT count(*) FROM resumable_uploads`) != 0 {
			t.Fatal("rows left")
		}
		// The committed video stays, everything else of the expired upload is gone.
		var key string
		if err := ta.DB.Get(&key, `SELECT object_key FROM uploads`); err != nil {
			t.Fatal(err)
		}
		if _, err := ta.Media.Stat(context.Background(), key); err != nil {
			t.Fatalf("the committed video: %v", err)
		}
		if left := tusLeft(t, ta); len(left) != 1 || left[0] != key {
			t.Fatalf("left under tus/: %v, want only the committed %s", left, key)
		}
		if _, ok := ta.Media.(*media.S3); ok {
			if n := multipartUploads(t, ta, "tus/"+old[strings.LastIndex(old, "/")+1:]); n != 0 {
				t.Fatalf("%d multipart uploads of the expired upload left", n)
			}
		}
	})
}

// A crash between starting an upload's S3 multipart upload and recording its id leaves a row without
// the id: the sweep still finds the multipart upload by its key and aborts it, parts and all.
func TestTus_SweepAbortsAMultipartUploadWhoseIdWasNeverRecorded(t *testing.T) {
	ta := apptest.New(t, "", "FL_MEDIA_URL", apptest.BucketURL(t))
	tok := ta.Token(apptest.DemoBIN, apptest.Director("crash"))
	video := apptest.MP4(10<<20 + 5)
	id := tusPath(t, tusCreate(ta, tok, len(video), tusFields(taskRef)))
	if p := tusPatch(ta, tok, id, 0, video[:9<<20]); p.Code != 204 { // one 5 MiB part uploaded
		t.Fatalf("PATCH %d %s", p.Code, p.Raw)
	}
	if _, err := ta.DB.Exec(`UPDATE resumable_uploads SET multipart_id = ''`); err != nil {
		t.Fatal(err)
	}
	key := "tus/" + id[strings.LastIndex(id, "/")+1:]
	if n := multipartUploads(t, ta, key); n != 1 {
		t.Fatalf("%d multipart uploads of %s before the sweep, want 1", n, key)
	}

	now := time.Now().Add(25 * time.Hour)
	sweeper, err := resumable.New(context.Background(), ta.DB, ta.Uploads, ta.Media,
		resumable.Options{PublicURL: "https://api.example.kz", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sweeper.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("the sweep removed %d (%v), want 1", n, err)
	}
	if left := tusLeft(t, ta); len(left) != 0 {
		t.Fatalf("left under tus/: %v", left)
	}
	if n := multipartUploads(t, ta, key); n != 0 {
		t.Fatalf("%d multipart uploads of %s left after the sweep", n, key)
	}
}

// multipartUploads counts the multipart uploads in progress for key (MinIO lists them by exact key only).
func multipartUploads(t *testing.T, ta *apptest.App, key string) int {
	t.Helper()
	client, bucket, err := ta.Media.(*media.S3).Raw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for u := range client.ListIncompleteUploads(context.Background(), bucket, key, false) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		if u.Key == key {
			n++
		}
	}
	return n
}

package reports_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// FuzzUploadBody sends arbitrary multipart bodies through the real upload handler (SQLite, disk store).
// Whatever arrives, the answer is an envelope with a client status — never a 500 — and a 201 leaves a
// report in status 2 whose stored video starts with an ftyp box.
func FuzzUploadBody(f *testing.F) {
	const boundary = "fuzzboundary"
	body := func(fields []apptest.Part, file []byte, fileFirst bool) []byte {
		r, ct := apptest.UploadBody(fields, file, fileFirst)
		b, _ := io.ReadAll(r)
		// Re-spell the random boundary as the fixed one the fuzzer's bodies use.
		old := ct[strings.Index(ct, "boundary=")+len("boundary="):]
		return bytes.ReplaceAll(b, []byte(old), []byte(boundary))
	}
	f.Add(body(apptest.Meta(apptest.TaskRef), apptest.MP4(2048), false))
	f.Add(body(apptest.Meta(apptest.TaskRef), apptest.MP4(2048), true))
	f.Add(body(apptest.Meta(apptest.TaskRef), []byte("RIFF....AVI LIST"), false))
	f.Add(body(apptest.Meta(apptest.TaskRef), nil, false))
	f.Add(body([]apptest.Part{{"ref_key", apptest.TaskRef}, {"lat", "91"}, {"long", "x"}}, apptest.MP4(64), false))
	f.Add(body(apptest.Meta(apptest.TaskRef), []byte{}, false))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n\x00\x00\x00\x18ftyp"))

	ta := apptest.New(f, "", "FL_UPLOAD_MAX_BYTES", "65536")
	token := ta.Login(apptest.DemoBIN, apptest.Director("fuzz")).Str("access_token")
	f.Fuzz(func(t *testing.T, b []byte) {
		ta := *ta
		ta.T = t // helpers report on the fuzz input's test, not the fuzz target
		a := ta.Do(http.MethodPost, "/reports/upload", bytes.NewReader(b), "Authorization", "Bearer "+token,
			"Content-Type", "multipart/form-data; boundary="+boundary)
		switch a.Code {
		case 201:
			if s := reportStatus(t, &ta, apptest.TaskRef); s != 2 {
				t.Fatalf("201 but the report is in status %d", s)
			}
			var key string
			if err := ta.DB.Get(&key, `SELECT object_key FROM uploads ORDER BY id DESC LIMIT 1`); err != nil {
				t.Fatal(err)
			}
			r, _, err := ta.Media.Open(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 8)
			_, _ = io.ReadFull(r, head)
			r.Close()
			if string(head[4:8]) != "ftyp" {
				t.Fatalf("stored a video starting %q", head)
			}
		case 400, 409, 413, 415:
			if a.Str("error") == "" {
				t.Fatalf("%d without an error code: %s", a.Code, a.Raw)
			}
		default:
			t.Fatalf("answered %d: %s", a.Code, a.Raw)
		}
	})
}

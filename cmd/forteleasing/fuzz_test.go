package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzUploadBody sends arbitrary multipart bodies through the real upload handler (SQLite, disk store).
// Whatever arrives, the answer is an envelope with a client status — never a 500 — and a 201 leaves a
// report in status 2 whose stored video starts with an ftyp box.
func FuzzUploadBody(f *testing.F) {
	const boundary = "fuzzboundary"
	body := func(fields []part, file []byte, fileFirst bool) []byte {
		r, ct := uploadBody(fields, file, fileFirst)
		b, _ := io.ReadAll(r)
		// Re-spell the random boundary as the fixed one the fuzzer's bodies use.
		old := ct[strings.Index(ct, "boundary=")+len("boundary="):]
		return bytes.ReplaceAll(b, []byte(old), []byte(boundary))
	}
	f.Add(body(meta(taskRef), makeMP4(2048), false))
	f.Add(body(meta(taskRef), makeMP4(2048), true))
	f.Add(body(meta(taskRef), []byte("RIFF....AVI LIST"), false))
	f.Add(body(meta(taskRef), nil, false))
	f.Add(body([]part{{"ref_key", taskRef}, {"lat", "91"}, {"long", "x"}}, makeMP4(64), false))
	f.Add(body(meta(taskRef), []byte{}, false))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n\x00\x00\x00\x18ftyp"))

	ta := newTestApp(f, "", "FL_UPLOAD_MAX_BYTES", "65536")
	token := ta.login(demoBIN, director("fuzz")).str("access_token")
	f.Fuzz(func(t *testing.T, b []byte) {
		ta := *ta
		ta.t = t // helpers report on the fuzz input's test, not the fuzz target
		a := ta.do(http.MethodPost, "/reports/upload", bytes.NewReader(b), "Authorization", "Bearer "+token,
			"Content-Type", "multipart/form-data; boundary="+boundary)
		switch a.code {
		case 201:
			if s := ta.reportStatus(t, taskRef); s != 2 {
				t.Fatalf("201 but the report is in status %d", s)
			}
			var key string
			if err := ta.app.DB.Get(&key, `SELECT object_key FROM uploads ORDER BY id DESC LIMIT 1`); err != nil {
				t.Fatal(err)
			}
			r, _, err := ta.app.Media.Open(context.Background(), key)
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
			if a.str("error") == "" {
				t.Fatalf("%d without an error code: %s", a.code, a.raw)
			}
		default:
			t.Fatalf("answered %d: %s", a.code, a.raw)
		}
	})
}

package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"mime/multipart"
	"net/http"

	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/onec"
)

// TaskRef is the demo task in status 1 of the BIN company: the report uploads go to.
const TaskRef = onec.DemoTaskRefKey

// MP4 writes the smallest ISO-BMFF file the upload accepts: an ftyp box, then an mdat box of random
// bytes filling it to size. Tests that need a playable video use media/mp4meta/mp4test (ffmpeg).
func MP4(size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[0:], 24)
	copy(b[4:], "ftypisom\x00\x00\x02\x00isommp41")
	binary.BigEndian.PutUint32(b[24:], uint32(size-24))
	copy(b[28:], "mdat")
	_, _ = rand.Read(b[32:])
	return b
}

// Part is one form field of an upload: its name and value.
type Part [2]string

// Meta is the form fields of an upload for ref, as the app sends them.
func Meta(ref string) []Part {
	return []Part{{"ref_key", ref}, {"time_sent", "2026-03-03 10:15:00"}, {"lat", "43.238949"}, {"long", "76.889709"}, {"odometer", "120345"}}
}

// UploadBody builds the multipart body of POST /reports/upload in the given order; file may be nil to
// leave it out. It returns the body and its Content-Type.
func UploadBody(fields []Part, file []byte, fileFirst bool) (io.Reader, string) {
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
		_ = w.WriteField(f[0], f[1])
	}
	if !fileFirst {
		writeFile()
	}
	_ = w.Close()
	return &buf, w.FormDataContentType()
}

// Upload sends POST /reports/upload with the fields and file as token's user.
func (a *App) Upload(token string, fields []Part, file []byte, fileFirst bool, headers ...string) Answer {
	a.T.Helper()
	body, ct := UploadBody(fields, file, fileFirst)
	return a.Do(http.MethodPost, "/reports/upload", body, append([]string{"Authorization", "Bearer " + token, "Content-Type", ct}, headers...)...)
}

// Videos lists the keys of the stored videos.
func (a *App) Videos() []string {
	a.T.Helper()
	var keys []string
	err := a.Media.List(context.Background(), "videos/", func(o media.Object) error { keys = append(keys, o.Key); return nil })
	if err != nil {
		a.T.Fatal(err)
	}
	return keys
}

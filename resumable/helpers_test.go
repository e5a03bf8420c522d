package resumable_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

// realVideo is a video ffmpeg encoded, grown to size bytes with a trailing "free" box of random bytes
// (which players skip), so large uploads are real files without minutes of encoding.
func realVideo(t testing.TB, size int) []byte {
	t.Helper()
	v := mp4test.Make(t, mp4test.Spec{Seconds: 2, Seed: size})
	if len(v)+8 > size {
		t.Fatalf("the encoded video has %d bytes, more than %d", len(v), size)
	}
	pad := make([]byte, size-len(v))
	binary.BigEndian.PutUint32(pad, uint32(len(pad)))
	copy(pad[4:], "free")
	_, _ = rand.Read(pad[8:])
	return append(v, pad...)
}

func reportStatus(t testing.TB, ta *apptest.App, ref string) int {
	return apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}

// plainUpload sends video to POST /reports/upload.
func plainUpload(ta *apptest.App, tok, ref string, video []byte, headers ...string) apptest.Answer {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range [][2]string{{"ref_key", ref}, {"time_sent", "2026-03-03 10:15:00"}, {"lat", "43.238949"}, {"long", "76.889709"}} {
		_ = w.WriteField(f[0], f[1])
	}
	fw, _ := w.CreateFormFile("file", "video.mp4")
	_, _ = fw.Write(video)
	w.Close()
	return ta.Do(http.MethodPost, "/reports/upload", &buf, append([]string{"Authorization", "Bearer " + tok, "Content-Type", w.FormDataContentType()}, headers...)...)
}

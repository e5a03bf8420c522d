package authenticity_test

import (
	"bytes"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
	"github.com/forteleasing/inspections/reports"
)

// BenchmarkUpload_WithAndWithoutAnalysis measures POST /reports/upload of a real 10 s video with the
// analysis wired (its pending row in the upload's transaction, its job queued and run beside) and
// without it (the wiring before this feature), in the same run: the ratio is the analysis's cost to
// the upload. go test ./authenticity -run x -bench Upload -benchtime 100x
func BenchmarkUpload_WithAndWithoutAnalysis(b *testing.B) {
	video := mp4test.Make(b, mp4test.Spec{Style: mp4test.Android, Seconds: 10, Recorded: time.Now().Add(-time.Hour),
		Location: &mp4test.Point{Lat: 43.238949, Long: 76.889709}, Clean: true})
	for _, withAnalysis := range []bool{false, true} {
		name := "without_analysis"
		if withAnalysis {
			name = "with_analysis"
		}
		b.Run(name, func(b *testing.B) {
			a := apptest.New(b, "")
			route := a.HTTP
			if !withAnalysis {
				// The same upload path with only the VIN check's hook, as before this feature.
				up := reports.NewUploads(reports.NewStore(a.DB), a.Media, a.Cfg.UploadMaxBytes, time.Now, slog.New(slog.NewJSONHandler(io.Discard, nil)))
				up.Hook(a.VIN)
				route = httpx.NewApp(slog.New(slog.NewJSONHandler(io.Discard, nil)), httpx.AppOptions{StreamRequestBody: true, BodyLimit: 64 << 20})
				reports.NewUploadHandler(up, nil).Routes(route, a.AuthHTTP.RequireUser)
			}
			tok := a.Token(apptest.DemoBIN, apptest.Director("bench-"+name))
			const ref = "646ba713-d1d7-11ec-9405-005056aaa4ae" // the demo's report in status 1
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, err := a.DB.Exec(`UPDATE reports SET status_code = 1 WHERE ref_key = $1`, ref); err != nil {
					b.Fatal(err)
				}
				var body bytes.Buffer
				w := multipart.NewWriter(&body)
				for k, v := range map[string]string{"ref_key": ref, "time_sent": time.Now().In(kz).Format("2006-01-02 15:04:05"),
					"lat": "43.238949", "long": "76.889709"} {
					_ = w.WriteField(k, v)
				}
				fw, _ := w.CreateFormFile("file", "v.mp4")
				_, _ = fw.Write(video)
				_ = w.Close()
				b.StartTimer()
				req := httptest.NewRequest(http.MethodPost, "/reports/upload", &body)
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", w.FormDataContentType())
				resp, err := route.Test(req, -1)
				if err != nil || resp.StatusCode != 201 {
					b.Fatalf("upload: %v %v", resp, err)
				}
				resp.Body.Close()
			}
		})
	}
}

var kz = time.FixedZone("UTC+5", 5*3600)

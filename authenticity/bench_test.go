package authenticity_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
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
			if !withAnalysis {
				vin := a.VIN
				a.Uploads.InCommit = nil
				a.Uploads.OnCommitted = func(ctx context.Context, u reports.Committed) {
					ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					defer cancel()
					vin.Enqueue(ctx, u.UploadID)
				}
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
				ans := a.Do(http.MethodPost, "/reports/upload", &body, "Authorization", "Bearer "+tok, "Content-Type", w.FormDataContentType())
				if ans.Code != 201 {
					b.Fatalf("upload: %d %s", ans.Code, ans.Raw)
				}
			}
		})
	}
}

var kz = time.FixedZone("UTC+5", 5*3600)

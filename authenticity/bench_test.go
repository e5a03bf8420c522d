package authenticity_test

import (
	"bytes"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database/dbtest"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
	"github.com/forteleasing/inspections/reports"
)

// BenchmarkUpload_WithAndWithoutAnalysis measures POST /reports/upload of a real 10 s video with the
// analysis wired (its pending row and its job in the upload's transaction) and without it (the same
// upload route with only the VIN check's hook, the wiring before this feature), interleaved in one
// run on one database: each iteration uploads once on each route, the order alternating, and waits,
// off the clock, until the queued jobs (the analysis, the VIN check) have run, so that neither route
// pays for the other's background work. It reports the median and 90th percentile of each and the
// ratio of the medians. Run it with a fixed count:
//
//	go test ./authenticity -run x -bench Upload -benchtime 200x
func BenchmarkUpload_WithAndWithoutAnalysis(b *testing.B) {
	video := mp4test.Make(b, mp4test.Spec{Style: mp4test.Android, Seconds: 10, Recorded: time.Now().Add(-time.Hour),
		Location: &mp4test.Point{Lat: 43.238949, Long: 76.889709}, Clean: true})
	b.Run("sqlite", func(b *testing.B) { benchUpload(b, apptest.New(b, ""), video) })
	b.Run("postgres", func(b *testing.B) { benchUpload(b, apptest.New(b, dbtest.PostgresURL(b)), video) })
}

func benchUpload(b *testing.B, a *apptest.App, video []byte) {
	// Two routes built alike on the app's database, store and queue; they differ only in the hooks
	// that commit with the upload.
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	route := func(hooks ...inspections.UploadHook) *fiber.App {
		up := reports.NewUploads(reports.NewStore(a.DB), a.Media, a.Cfg.UploadMaxBytes, time.Now, quiet)
		up.Hook(hooks...)
		r := httpx.NewApp(quiet, httpx.AppOptions{StreamRequestBody: true, BodyLimit: 64 << 20})
		reports.NewUploadHandler(up, nil).Routes(r, a.AuthHTTP.RequireUser)
		return r
	}
	routes := [2]*fiber.App{route(a.VIN), route(a.VIN, a.Analysis)}
	names := [2]string{"without", "with"}

	tok := a.Token(apptest.DemoBIN, apptest.Director("bench-upload"))
	const ref = "646ba713-d1d7-11ec-9405-005056aaa4ae" // the demo's report in status 1
	var took [2][]time.Duration
	idle := func() bool {
		var n int
		err := a.DB.Get(&n, `SELECT COUNT(*) FROM river_job WHERE kind IN ('authenticity', 'vin_check')
			AND state NOT IN ('completed', 'discarded', 'cancelled')`)
		return err == nil && n == 0
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range 2 {
			route := (i + k) % 2 // without first on even iterations, with first on odd ones
			b.StopTimer()
			if _, err := a.DB.Exec(`UPDATE reports SET status_code = 1 WHERE ref_key = $1`, ref); err != nil {
				b.Fatal(err)
			}
			var body bytes.Buffer
			w := multipart.NewWriter(&body)
			for _, f := range [][2]string{{"ref_key", ref}, {"time_sent", time.Now().In(kz).Format("2006-01-02 15:04:05")},
				{"lat", "43.238949"}, {"long", "76.889709"}} {
				_ = w.WriteField(f[0], f[1])
			}
			fw, _ := w.CreateFormFile("file", "v.mp4")
			_, _ = fw.Write(video)
			_ = w.Close()
			req := httptest.NewRequest(http.MethodPost, "/reports/upload", &body)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", w.FormDataContentType())
			b.StartTimer()

			start := time.Now()
			resp, err := routes[route].Test(req, -1)
			took[route] = append(took[route], time.Since(start))

			b.StopTimer()
			if err != nil || resp.StatusCode != 201 {
				b.Fatalf("upload %s analysis: %v %v", names[route], resp, err)
			}
			resp.Body.Close()
			apptest.Eventually(b, idle, "the upload's jobs ran")
			b.StartTimer()
		}
	}
	b.StopTimer()
	med := [2]time.Duration{}
	for r := range 2 {
		slices.Sort(took[r])
		med[r] = took[r][len(took[r])/2]
		b.ReportMetric(float64(med[r].Microseconds()), "µs-median-"+names[r])
		b.ReportMetric(float64(took[r][len(took[r])*9/10].Microseconds()), "µs-p90-"+names[r])
	}
	b.ReportMetric(float64(med[1])/float64(med[0]), "ratio-with/without")
	b.ReportMetric(0, "ns/op") // an op is two uploads and the wait for their jobs: the medians say it
}

var kz = time.FixedZone("UTC+5", 5*3600)

package onec_test

import (
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/testenv"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

var kz = time.FixedZone("UTC+5", 5*3600)

// harness is a page of the test's own, served from the review page's origin, that frames the review
// page as 1C's web client does and reports what the browser made of it: the verdict shown, and the
// video element's readyState and duration once its metadata loaded.
const harness = `<!doctype html><html><body><pre id="out">waiting</pre>
<iframe id="f" width="1280" height="900" src="%s"></iframe>
<script>
const out = document.getElementById('out');
const f = document.getElementById('f');
f.addEventListener('load', () => {
  const d = f.contentDocument;
  const v = d.getElementById('video');
  const verdict = d.getElementById('verdict');
  const report = () => {
    const box = verdict.getBoundingClientRect();
    out.textContent = 'verdict=' + verdict.dataset.verdict + ' visible=' + (box.width > 0 && box.height > 0) +
      ' text=' + verdict.textContent.trim().split('\n')[0] + ' readyState=' + v.readyState + ' duration=' + v.duration +
      ' reasons=' + d.querySelectorAll('.reason').length + ' width=' + v.getBoundingClientRect().width;
  };
  if (v.readyState >= 1) { report(); } else { v.addEventListener('loadedmetadata', report); v.addEventListener('error', () => { out.textContent = 'video error ' + (v.error && v.error.code); }); }
});
</script></body></html>`

// TestReview_PageInChromium opens the review page of a real upload in headless Chromium (Debian's
// chromium; .ci/run installs it): it renders, the verdict is visible, the video element loads its
// metadata with the file's duration through the ranged media route (from MinIO when FL_TEST_S3_URL
// is set), a tampered link is refused, and screenshots at 1280 and 390 px go to $FL_TEST_ARTIFACTS.
func TestReview_PageInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium is not installed (apt-get install chromium; .ci/run does): browser test skipped")
	}
	if testing.Short() {
		t.Skip("-short: browser test skipped")
	}
	mp4test.RequireFFmpeg(t)
	// On MinIO when there is one (CI): the video route streams ranged reads of the object store
	// there, the deployment's store.
	var env []string
	if os.Getenv(apptest.S3URLEnv) != "" {
		env = []string{"FL_MEDIA_URL", apptest.BucketURL(t)}
		t.Log("video store: MinIO")
	}
	a := apptest.New(t, "", env...)
	guid, ref := "veh-review", "review-browser"
	apptest.WantStatus(t, a.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": apptest.DemoBIN,
		"vehicle_type_code": apptest.CarType, "vin_code": "XTA21099000000007", "plate_number": "777AAA02"}}, apptest.OneCAuth()...), 200, "")
	now := time.Now()
	apptest.WantStatus(t, a.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": "000000042",
		"contract_number": "№36/20 (ДЛ)", "vehicle_guid": guid, "date_start": now.Add(-24 * time.Hour).In(kz).Format("2006-01-02T15:04:05"),
		"date_finish": now.Add(72 * time.Hour).In(kz).Format("2006-01-02T15:04:05"), "status_code": 1}}, apptest.OneCAuth()...), 200, "")
	tok := a.Token(apptest.DemoBIN, apptest.Director("review-browser"))
	// An iPhone-style file recorded 3 km from where the app says it was, 7 s long (the car type has 10
	// instructions: too short as well), so the page has reasons to show.
	at := mp4test.Point{Lat: 43.238949 + 3000.0/111195, Long: 76.889709}
	video := mp4test.Make(t, mp4test.Spec{Style: mp4test.IPhone, Seconds: 7, Width: 640, Height: 360, Faststart: true, Recorded: now.Add(-time.Hour).In(kz),
		Location: &at, Make: "Apple", Model: "iPhone 14 Pro", Software: "17.4.1", Clean: true})
	upload(t, a, tok, ref, now, video)

	var link string
	apptest.Eventually(t, func() bool {
		feed := a.Do(http.MethodGet, "/1c/reports?limit=1000", nil, apptest.OneCAuth()...)
		for _, it := range feed.Data()["reports"].([]any) {
			item := it.(map[string]any)
			if item["ref_key"] == ref {
				au, _ := item["authenticity"].(map[string]any)
				link, _ = item["review_url"].(string)
				return au != nil && au["verdict"] != "pending"
			}
		}
		return false
	}, "the analysis of %s", ref)

	base := a.Listen()
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	page := u.RequestURI()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/harness" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, harness, page)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	chrome := func(args ...string) string {
		t.Helper()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
			"--autoplay-policy=no-user-gesture-required"}, args...)
		return string(testenv.Chromium(ctx, t, browser, args...))
	}

	dom := chrome("--virtual-time-budget=20000", "--dump-dom", front.URL+"/harness")
	m := regexp.MustCompile(`verdict=(\w+) visible=(\w+) text=([^\n]*?) readyState=(\d) duration=([\d.]+) reasons=(\d+) width=([\d.]+)`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the harness reported nothing useful:\n%s", dom)
	}
	if m[1] != "warn" || m[2] != "true" || !strings.Contains(m[3], "Требует внимания") {
		t.Errorf("verdict %s visible %s text %q, want a visible warn", m[1], m[2], m[3])
	}
	if rs, _ := strconv.Atoi(m[4]); rs < 1 {
		t.Errorf("video readyState %s, want ≥ 1", m[4])
	}
	if d, _ := strconv.ParseFloat(m[5], 64); d < 6.9 || d > 7.1 {
		t.Errorf("video duration %s s, want 7", m[5])
	}
	if n, _ := strconv.Atoi(m[6]); n < 2 {
		t.Errorf("%s reasons shown, want location_mismatch and too_short", m[6])
	}
	t.Logf("in the browser: %s", m[0])

	// The page straight, as 1C's thin client loads it, and with its signature changed.
	direct := chrome("--dump-dom", front.URL+page)
	for _, want := range []string{`data-verdict="warn"`, "Место съёмки", "3 км", "История отчёта", "000000042", "777AAA02", "openstreetmap.org", "iPhone 14 Pro"} {
		if !strings.Contains(direct, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	tampered := strings.Replace(page, "signature=", "signature=0", 1)
	resp, err := http.Get(front.URL + tampered)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a tampered link answered %d, want 403", resp.StatusCode)
	}

	artifacts := os.Getenv("FL_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1280, 390} {
		shot, _ := filepath.Abs(filepath.Join(artifacts, fmt.Sprintf("review-%d.png", w)))
		chrome("--screenshot="+shot, fmt.Sprintf("--window-size=%d,2400", w), "--hide-scrollbars", "--virtual-time-budget=5000", front.URL+page)
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		colours := map[[3]uint32]bool{}
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 7 {
			for x := b.Min.X; x < b.Max.X; x += 7 {
				r, g, bl, _ := img.At(x, y).RGBA()
				colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			}
		}
		if b.Dx() != w || len(colours) < 8 {
			t.Errorf("screenshot %s: %dx%d, %d colours", shot, b.Dx(), b.Dy(), len(colours))
		}
		t.Logf("screenshot %s (%dx%d)", shot, b.Dx(), b.Dy())
	}
}

// upload posts a video for ref as the app does.
func upload(t *testing.T, a *apptest.App, token, ref string, sent time.Time, video []byte) {
	t.Helper()
	body, ct := multipartUpload(t, map[string]string{"ref_key": ref, "time_sent": sent.In(kz).Format("2006-01-02 15:04:05"),
		"lat": "43.238949", "long": "76.889709", "odometer": "1000"}, video)
	apptest.WantStatus(t, a.Do(http.MethodPost, "/reports/upload", body, "Authorization", "Bearer "+token, "Content-Type", ct), 201, "")
}

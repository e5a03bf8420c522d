package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/authenticity"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

var kzZone = time.FixedZone("UTC+5", 5*3600)

// authTask adds a vehicle (plate → 1C VIN) and a task on it that started a day ago.
func authTask(t *testing.T, ta *testApp, plate, vin, ref string) {
	t.Helper()
	guid := "veh-" + plate
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": demoBIN,
		"vehicle_type_code": carType, "vin_code": vin, "plate_number": plate}}, onecAuth()...), 200, "")
	start := time.Now().In(kzZone).Add(-24 * time.Hour).Format("2006-01-02T15:04:05")
	finish := time.Now().In(kzZone).Add(7 * 24 * time.Hour).Format("2006-01-02T15:04:05")
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": "№" + ref,
		"vehicle_guid": guid, "date_start": start, "date_finish": finish, "status_code": 1}}, onecAuth()...), 200, "")
}

// point is where the tests' vehicles stand (Almaty) and what the app sends.
var point = mp4test.Point{Lat: 43.238949, Long: 76.889709}

func sendFields(ref string, sent time.Time, odometer string) []part {
	f := []part{{"ref_key", ref}, {"time_sent", sent.In(kzZone).Format("2006-01-02 15:04:05")},
		{"lat", "43.238949"}, {"long", "76.889709"}}
	if odometer != "" {
		f = append(f, part{"odometer", odometer})
	}
	return f
}

// analysed waits until the feed shows ref's analysis re-evaluated after its VIN check, and returns the item.
func (ta *testApp) analysed(t *testing.T, ref string) map[string]any {
	t.Helper()
	var item map[string]any
	waitFor(t, "the analysis of "+ref+" after its VIN check", func() bool {
		// The count first: the feed read after it shows at least that evaluation.
		runs := ta.count(t, `SELECT COALESCE(MAX(a.runs), 0) FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = $1`, ref)
		items, _ := ta.readFeed(t, "", "0", 1000, nil)
		for _, it := range items {
			if it.RefKey != ref {
				continue
			}
			a, _ := it.raw["authenticity"].(map[string]any)
			v, _ := it.raw["vin_check"].(map[string]any)
			if a != nil && a["verdict"] != "pending" && v != nil && v["status"] != "pending" && runs >= 2 {
				item = it.raw
				return true
			}
		}
		return false
	})
	return item
}

func reasonCodes(item map[string]any) []string {
	a := item["authenticity"].(map[string]any)
	out := []string{}
	for _, r := range a["reasons"].([]any) {
		out = append(out, r.(map[string]any)["code"].(string))
	}
	slices.Sort(out)
	return out
}

// TestAuthenticity_FeedShowsVerdictsOfRealUploads uploads videos ffmpeg made through the API and reads
// the verdicts 1C gets: the job ran on each upload, was re-evaluated after the VIN check, and each
// item carries authenticity and an absolute signed review_url.
func TestAuthenticity_FeedShowsVerdictsOfRealUploads(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	okpock := newFakeOkpock(t, map[string]string{"111AAA02": "XTA21099000000001", "222BBB02": "XTA21099000000999", "333CCC02": "XTA21099000000003"})
	// The demo car type has 10 instructions: 0.5 s each keeps the test's videos short.
	ta := newTestApp(t, "", append(okpockEnv(okpock), "FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", "0.5")...)
	authTask(t, ta, "111AAA02", "XTA21099000000001", "auth-pass")
	authTask(t, ta, "222BBB02", "XTA21099000000002", "auth-vin")
	authTask(t, ta, "333CCC02", "XTA21099000000003", "auth-dup")
	tok := ta.login(demoBIN, director("auth")).str("access_token")

	now := time.Now()
	clean := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 10, Recorded: now.Add(-time.Hour), Location: &point, Clean: true})
	wantStatus(t, ta.upload(tok, sendFields("auth-pass", now, "120000"), clean, false), 201, "")
	edited := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 10, Recorded: now.Add(-time.Hour), Location: &point})
	wantStatus(t, ta.upload(tok, sendFields("auth-vin", now.Add(40*time.Minute), ""), edited, false), 201, "")
	wantStatus(t, ta.upload(tok, sendFields("auth-dup", now, ""), clean, false), 201, "")

	pass := ta.analysed(t, "auth-pass")
	if a := pass["authenticity"].(map[string]any); a["verdict"] != "pass" || len(reasonCodes(pass)) != 0 {
		t.Errorf("clean android upload: %v", a)
	}
	video := pass["authenticity"].(map[string]any)["video"].(map[string]any)
	if video["duration_s"] != 10.0 || video["width"] != 320.0 || video["height"] != 240.0 || video["location"] == nil {
		t.Errorf("video facts %v", video)
	}
	wantRecorded := now.Add(-time.Hour).In(kzZone).Format("2006-01-02T15:04:05")
	if video["recorded_at"] != wantRecorded {
		t.Errorf("recorded_at %v, want %s (UTC+5, seed format)", video["recorded_at"], wantRecorded)
	}
	if u, _ := pass["review_url"].(string); !strings.HasPrefix(u, "https://api.example.kz/review/auth-pass?expires=") || !strings.Contains(u, "&signature=") {
		t.Errorf("review_url %q", u)
	}

	vin := ta.analysed(t, "auth-vin")
	if got := reasonCodes(vin); !slices.Equal(got, []string{"clock_skew", "edited_video", "vin_mismatch"}) {
		t.Errorf("edited file, other VIN, clock 40 min ahead: %v (vin_check %v)", got, vin["vin_check"])
	}
	if vin["authenticity"].(map[string]any)["verdict"] != "fail" {
		t.Errorf("verdict %v", vin["authenticity"])
	}
	dup := ta.analysed(t, "auth-dup")
	if got := reasonCodes(dup); !slices.Equal(got, []string{"duplicate_video"}) || dup["authenticity"].(map[string]any)["verdict"] != "fail" {
		t.Errorf("the same file for another report: %v", dup["authenticity"])
	}

	// An earlier reading of the vehicle was higher: a second task on it gets odometer_rollback.
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "auth-odo", "report_number": "odo",
		"vehicle_guid": "veh-111AAA02", "date_start": now.In(kzZone).Add(-time.Hour).Format("2006-01-02T15:04:05"),
		"date_finish": now.In(kzZone).Add(time.Hour).Format("2006-01-02T15:04:05"), "status_code": 1}}, onecAuth()...), 200, "")
	again := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 10, Recorded: now.Add(-10 * time.Minute), Location: &point, Clean: true, Seed: 7})
	wantStatus(t, ta.upload(tok, sendFields("auth-odo", now, "90000"), again, false), 201, "")
	if got := reasonCodes(ta.analysed(t, "auth-odo")); !slices.Equal(got, []string{"odometer_rollback"}) {
		t.Errorf("a lower odometer than before: %v", got)
	}

	// A report without an upload has no analysis yet but a review page.
	items, _ := ta.readFeed(t, "", "0", 1000, nil)
	for _, it := range items {
		if it.raw["upload"] == nil && (it.raw["authenticity"] != nil || it.raw["review_url"] == "") {
			t.Errorf("%s without upload: authenticity %v review_url %v", it.RefKey, it.raw["authenticity"], it.raw["review_url"])
		}
	}

	// Each reason is counted once per upload on /metrics, though the analyses ran twice.
	if n := metricValue(t, ta, "forteleasing_authenticity_reasons_total", "code", "duplicate_video"); n != 1 {
		t.Errorf("duplicate_video counted %v times", n)
	}

	// The analysis is unique per upload and trigger: queueing it again adds nothing.
	var id int64
	if err := ta.app.DB.Get(&id, `SELECT u.id FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.ref_key = 'auth-pass'`); err != nil {
		t.Fatal(err)
	}
	n, err := ta.app.VIN.InsertMany(context.Background(), []river.JobArgs{
		authenticity.Args{UploadID: id, Trigger: authenticity.TriggerUpload}, authenticity.Args{UploadID: id, Trigger: authenticity.TriggerVINCheck}})
	if err != nil || n != 0 {
		t.Fatalf("re-queueing a finished analysis queued %d jobs (%v)", n, err)
	}
	if err := ta.app.Analysis.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if runs := ta.count(t, `SELECT runs FROM authenticity_checks WHERE upload_id = $1`, id); runs != 2 {
		t.Fatalf("the analysis ran %d times, want twice (upload, then VIN check)", runs)
	}
}

func metricValue(t *testing.T, ta *testApp, name, label, value string) float64 {
	t.Helper()
	families, err := ta.app.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// TestReview_SignedLinkAndRangedVideo opens the review page and its video as 1C's HTML field would:
// a tampered or foreign link is 403, ranges are served as HTTP says.
func TestReview_SignedLinkAndRangedVideo(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	ta := newTestApp(t, "")
	authTask(t, ta, "444DDD02", "XTA21099000000004", "rev-1")
	authTask(t, ta, "555EEE02", "XTA21099000000005", "rev-2")
	tok := ta.login(demoBIN, director("review")).str("access_token")
	file := mp4test.Make(t, mp4test.Spec{Style: mp4test.IPhone, Seconds: 5, Faststart: true, Recorded: time.Now().Add(-time.Hour), Location: &point,
		Make: "Apple", Model: "iPhone 14", Software: "17.4.1", Clean: true})
	wantStatus(t, ta.upload(tok, sendFields("rev-1", time.Now(), "1000"), file, false), 201, "")
	links := map[string]string{}
	items, _ := ta.readFeed(t, "", "0", 1000, nil)
	for _, it := range items {
		links[it.RefKey], _ = it.raw["review_url"].(string)
	}
	page := strings.TrimPrefix(links["rev-1"], "https://api.example.kz")
	get := func(path string, headers ...string) (int, http.Header, []byte) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		resp, err := ta.app.HTTP.Test(r, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	code, hdr, body := get(page)
	if code != 200 || !strings.Contains(string(body), `data-verdict="`) || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors *") || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("page: %d %v\n%s", code, hdr, body)
	}
	u, _ := url.Parse(page)
	q := u.Query()
	tampered := []string{
		"/review/rev-2?" + u.RawQuery, // another report with this report's signature
		u.Path + "?expires=" + q.Get("expires") + "1&signature=" + q.Get("signature"),
		u.Path + "?expires=" + q.Get("expires") + "&signature=" + strings.Repeat("0", 64),
		u.Path + "?expires=" + q.Get("expires"),
		u.Path + "/video?expires=" + q.Get("expires") + "&signature=" + q.Get("signature")[:63] + "f",
	}
	for _, p := range tampered {
		if code, _, body := get(p); code != 403 {
			t.Errorf("%s: %d (%d bytes), want 403", p, code, len(body))
		}
	}
	video := u.Path + "/video?" + u.RawQuery
	code, hdr, body = get(video)
	if code != 200 || !bytes.Equal(body, file) || hdr.Get("Accept-Ranges") != "bytes" || hdr.Get("Content-Type") != "video/mp4" {
		t.Fatalf("whole video: %d %v, %d bytes of %d", code, hdr, len(body), len(file))
	}
	code, hdr, body = get(video, "Range", "bytes=100-199")
	if code != 206 || !bytes.Equal(body, file[100:200]) || hdr.Get("Content-Range") != "bytes 100-199/"+itoa(len(file)) {
		t.Fatalf("range 100-199: %d %v %d bytes", code, hdr, len(body))
	}
	code, _, body = get(video, "Range", "bytes=-16")
	if code != 206 || !bytes.Equal(body, file[len(file)-16:]) {
		t.Fatalf("suffix range: %d, %d bytes", code, len(body))
	}
	if code, hdr, _ := get(video, "Range", "bytes="+itoa(len(file)+10)+"-"); code != 416 || hdr.Get("Content-Range") != "bytes */"+itoa(len(file)) {
		t.Fatalf("range past the end: %d %v", code, hdr)
	}
	// rev-2 has no video: its own link opens the page, its video is 404.
	p2 := strings.TrimPrefix(links["rev-2"], "https://api.example.kz")
	if code, _, body := get(p2); code != 200 || !strings.Contains(string(body), "Видео ещё не загружено") {
		t.Fatalf("page without video: %d", code)
	}
	u2, _ := url.Parse(p2)
	if code, _, _ := get(u2.Path + "/video?" + u2.RawQuery); code != 404 {
		t.Fatalf("video of a report without one: %d", code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

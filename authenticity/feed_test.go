package authenticity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/authenticity"
	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

// authTask adds a vehicle (plate → 1C VIN) and a task on it that started a day ago.
func authTask(t *testing.T, ta *apptest.App, plate, vin, ref string) {
	t.Helper()
	guid := "veh-" + plate
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": apptest.DemoBIN,
		"vehicle_type_code": apptest.CarType, "vin_code": vin, "plate_number": plate}}, apptest.OneCAuth()...), 200, "")
	start := time.Now().In(kz).Add(-24 * time.Hour).Format("2006-01-02T15:04:05")
	finish := time.Now().In(kz).Add(7 * 24 * time.Hour).Format("2006-01-02T15:04:05")
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": "№" + ref,
		"vehicle_guid": guid, "date_start": start, "date_finish": finish, "status_code": 1}}, apptest.OneCAuth()...), 200, "")
}

// point is where the tests' vehicles stand (Almaty) and what the app sends.
var point = mp4test.Point{Lat: 43.238949, Long: 76.889709}

func sendFields(ref string, sent time.Time, odometer string) map[string]string {
	f := map[string]string{"ref_key": ref, "time_sent": sent.In(kz).Format("2006-01-02 15:04:05"),
		"lat": "43.238949", "long": "76.889709"}
	if odometer != "" {
		f["odometer"] = odometer
	}
	return f
}

// upload posts a video as the app does and wants 201.
func upload(t *testing.T, ta *apptest.App, token string, fields map[string]string, video []byte) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "video.mp4")
	_, _ = fw.Write(video)
	_ = w.Close()
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/reports/upload", &body, "Authorization", "Bearer "+token, "Content-Type", w.FormDataContentType()), 201, "")
}

// feed reads every item of the 1C feed.
func feed(t *testing.T, ta *apptest.App) []map[string]any {
	t.Helper()
	a := ta.Do(http.MethodGet, "/1c/reports?limit=1000", nil, apptest.OneCAuth()...)
	if a.Code != 200 {
		t.Fatalf("feed: %d %s", a.Code, a.Raw)
	}
	var out []map[string]any
	for _, it := range a.Data()["reports"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// fakeOkpock answers Okpock's /info and /preview for the plates given, as its document shows.
func fakeOkpock(t *testing.T, vins map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q struct{ Plate string }
		_ = json.NewDecoder(r.Body).Decode(&q)
		w.Header().Set("Content-Type", "application/json")
		vin, ok := vins[q.Plate]
		switch {
		case !ok:
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"system":"OKPOCK","status":404,"message":"not_found","devMessage":"Given plate or VIN not found"}`)
		case r.URL.Path == "/info":
			fmt.Fprintf(w, `{"VIN":%q,"plate":%q}`, vin, q.Plate)
		case r.URL.Path == "/preview":
			_, _ = io.WriteString(w, `{"mark":"LEXUS","model":"IS300","vehicle_year":2007}`)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// analysed waits until the feed shows ref's analysis re-evaluated after its VIN check, and returns the item.
func analysed(t *testing.T, ta *apptest.App, ref string) map[string]any {
	t.Helper()
	var item map[string]any
	apptest.Eventually(t, func() bool {
		// The count first: the feed read after it shows at least that evaluation.
		runs := apptest.Count(t, ta, `SELECT COALESCE(MAX(a.runs), 0) FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = $1`, ref)
		for _, it := range feed(t, ta) {
			if it["ref_key"] != ref {
				continue
			}
			a, _ := it["authenticity"].(map[string]any)
			v, _ := it["vin_check"].(map[string]any)
			if a != nil && a["verdict"] != "pending" && v != nil && v["status"] != "pending" && runs >= 2 {
				item = it
				return true
			}
		}
		return false
	}, "the analysis of %s after its VIN check", ref)
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
	okpock := fakeOkpock(t, map[string]string{"111AAA02": "XTA21099000000001", "222BBB02": "XTA21099000000999", "333CCC02": "XTA21099000000003"})
	// The demo car type has 10 instructions: 0.5 s each keeps the test's videos short.
	ta := apptest.New(t, "", "FL_OKPOCK_URL", okpock.URL, "FL_OKPOCK_USER", "fl", "FL_OKPOCK_PASSWORD", "okpock-pass",
		"FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", "0.5")
	authTask(t, ta, "111AAA02", "XTA21099000000001", "auth-pass")
	authTask(t, ta, "222BBB02", "XTA21099000000002", "auth-vin")
	authTask(t, ta, "333CCC02", "XTA21099000000003", "auth-dup")
	tok := ta.Token(apptest.DemoBIN, apptest.Director("auth"))

	now := time.Now()
	clean := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 10, Recorded: now.Add(-time.Hour), Location: &point, Clean: true})
	upload(t, ta, tok, sendFields("auth-pass", now, "120000"), clean)
	edited := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 10, Recorded: now.Add(-time.Hour), Location: &point})
	upload(t, ta, tok, sendFields("auth-vin", now.Add(40*time.Minute), ""), edited)
	upload(t, ta, tok, sendFields("auth-dup", now, ""), clean)

	pass := analysed(t, ta, "auth-pass")
	if a := pass["authenticity"].(map[string]any); a["verdict"] != "pass" || len(reasonCodes(pass)) != 0 {
		t.Errorf("clean android upload: %v", a)
	}
	video := pass["authenticity"].(map[string]any)["video"].(map[string]any)
	if video["duration_s"] != 10.0 || video["width"] != 320.0 || video["height"] != 240.0 || video["location"] == nil {
		t.Errorf("video facts %v", video)
	}
	wantRecorded := now.Add(-time.Hour).In(kz).Format("2006-01-02T15:04:05")
	if video["recorded_at"] != wantRecorded {
		t.Errorf("recorded_at %v, want %s (UTC+5, seed format)", video["recorded_at"], wantRecorded)
	}
	if u, _ := pass["review_url"].(string); !strings.HasPrefix(u, "https://api.example.kz/review/auth-pass?expires=") || !strings.Contains(u, "&signature=") {
		t.Errorf("review_url %q", u)
	}

	vin := analysed(t, ta, "auth-vin")
	if got := reasonCodes(vin); !slices.Equal(got, []string{"clock_skew", "edited_video", "vin_mismatch"}) {
		t.Errorf("edited file, other VIN, clock 40 min ahead: %v (vin_check %v)", got, vin["vin_check"])
	}
	if vin["authenticity"].(map[string]any)["verdict"] != "fail" {
		t.Errorf("verdict %v", vin["authenticity"])
	}
	dup := analysed(t, ta, "auth-dup")
	if got := reasonCodes(dup); !slices.Equal(got, []string{"duplicate_video"}) || dup["authenticity"].(map[string]any)["verdict"] != "fail" {
		t.Errorf("the same file for another report: %v", dup["authenticity"])
	}

	// An earlier reading of the vehicle was higher: a second task on it gets odometer_rollback.
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "auth-odo", "report_number": "odo",
		"vehicle_guid": "veh-111AAA02", "date_start": now.In(kz).Add(-time.Hour).Format("2006-01-02T15:04:05"),
		"date_finish": now.In(kz).Add(time.Hour).Format("2006-01-02T15:04:05"), "status_code": 1}}, apptest.OneCAuth()...), 200, "")
	again := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 10, Recorded: now.Add(-10 * time.Minute), Location: &point, Clean: true, Seed: 7})
	upload(t, ta, tok, sendFields("auth-odo", now, "90000"), again)
	if got := reasonCodes(analysed(t, ta, "auth-odo")); !slices.Equal(got, []string{"odometer_rollback"}) {
		t.Errorf("a lower odometer than before: %v", got)
	}

	// A report without an upload has no analysis yet but a review page.
	for _, it := range feed(t, ta) {
		if it["upload"] == nil && (it["authenticity"] != nil || it["review_url"] == "") {
			t.Errorf("%s without upload: authenticity %v review_url %v", it["ref_key"], it["authenticity"], it["review_url"])
		}
	}

	// Each reason is counted once per upload on /metrics, though the analyses ran twice.
	if n := metricValue(t, ta, "forteleasing_authenticity_reasons_total", "code", "duplicate_video"); n != 1 {
		t.Errorf("duplicate_video counted %v times", n)
	}

	// The analysis is unique per upload and trigger: queueing it again adds nothing.
	var id int64
	if err := ta.DB.Get(&id, `SELECT u.id FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.ref_key = 'auth-pass'`); err != nil {
		t.Fatal(err)
	}
	for _, trigger := range []string{authenticity.TriggerUpload, authenticity.TriggerVINCheck} {
		res, err := ta.Jobs.Insert(context.Background(), authenticity.Args{UploadID: id, Trigger: trigger}, nil)
		if err != nil || !res.UniqueSkippedAsDuplicate {
			t.Fatalf("re-queueing a finished analysis (%s) queued a job (%v)", trigger, err)
		}
	}
	if runs := apptest.Count(t, ta, `SELECT runs FROM authenticity_checks WHERE upload_id = $1`, id); runs != 2 {
		t.Fatalf("the analysis ran %d times, want twice (upload, then VIN check)", runs)
	}
}

func metricValue(t *testing.T, ta *apptest.App, name, label, value string) float64 {
	t.Helper()
	families, err := ta.Metrics.Registry.Gather()
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

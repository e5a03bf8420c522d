package onec_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/reports"
)

// The feed reads a page in one statement: the reports with their newest upload and uploader, its
// analysis, the newest VIN check and the whole history. Every field of every block must come out of it
// as the rows hold it, on both databases, next to reports without any of them on the same page.
func TestFeed_OneStatementCarriesEveryBlockOfAPage(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoBIN, apptest.Director("fold")).Str("access_token")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false), 201, "")
		apptest.WantStatus(t, ta.JSON(http.MethodPost, "/1c/reports/"+apptest.TaskRef+"/decision",
			map[string]any{"status_code": 4, "reject_reason": "Номер не виден"}, apptest.OneCAuth()...), 200, "")
		second := apptest.MP4(5000)
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), second, false), 201, "")
		var newest struct {
			ID        int64  `db:"id"`
			ReportID  int64  `db:"report_id"`
			ObjectKey string `db:"object_key"`
		}
		if err := ta.DB.Get(&newest, `SELECT u.id, u.report_id, u.object_key FROM uploads u JOIN reports r ON r.id = u.report_id
			WHERE r.ref_key = $1 ORDER BY u.id DESC LIMIT 1`, apptest.TaskRef); err != nil {
			t.Fatal(err)
		}
		// Both uploads' VIN checks and analyses run; then the newest ones get stored values with every field set.
		apptest.Eventually(t, func() bool {
			return apptest.Count(t, ta, `SELECT count(*) FROM vin_checks WHERE report_id = $1 AND status <> 'pending'`, newest.ReportID) == 2 &&
				apptest.Count(t, ta, `SELECT COALESCE(MIN(runs), 0) FROM authenticity_checks WHERE report_id = $1`, newest.ReportID) >= 2
		}, "the checks and analyses of both uploads")
		checked := time.Date(2026, 3, 3, 5, 16, 7, 0, time.UTC)
		if _, err := ta.DB.Exec(`UPDATE vin_checks SET status = 'mismatch', provider = 'okpock', vin_expected = 'JTHBA30G665000001',
			vin_found = 'WVWZZZ1KZ6W000002', facts = '{"mark":"LEXUS","year":2007}', odometer = '{"km":120000,"ticket":"T-1"}', checked_at = $2
			WHERE upload_id = $1`, newest.ID, checked); err != nil {
			t.Fatal(err)
		}
		if _, err := ta.DB.Exec(`UPDATE authenticity_checks SET status = 'done', checked_at = $2,
			file = '{"read":true,"duration_s":12.34,"width":1920,"height":1080,"recorded_at":"2026-03-03T05:10:00Z","location":{"lat":43.2389,"long":76.8897},"make":"Apple","model":"iPhone 15","software":"17.3","encoders":[]}',
			reasons = '[{"code":"vin_mismatch","level":"fail","message":"VIN не совпадает","facts":{"found":"WVWZZZ1KZ6W000002"}},{"code":"too_short","level":"warn","message":"short","facts":{}}]'
			WHERE upload_id = $1`, newest.ID, checked); err != nil {
			t.Fatal(err)
		}

		items, _ := apptest.ReadFeed(t, ta, "", "0", 3, nil)
		var item map[string]any
		for _, it := range items {
			if it.RefKey == apptest.TaskRef {
				item = it.Raw
			} else if it.Raw["upload"] != nil || it.Raw["vin_check"] != nil || it.Raw["authenticity"] != nil {
				t.Errorf("%s has blocks of another report: %v", it.RefKey, it.Raw)
			}
		}
		if item == nil {
			t.Fatal("the report is not in the feed")
		}

		// The report, its vehicle and company, as their rows say.
		var rep struct {
			RefKey, ReportNumber, ContractNumber, RejectReason, BIIN, GUID, VIN, Plate string
			DateStart, DateFinish, UpdatedAt                                           time.Time
			Status                                                                     int
		}
		if err := ta.DB.QueryRow(`SELECT r.ref_key, r.report_number, r.contract_number, r.reject_reason, c.biin, v.guid, v.vin_code,
			v.plate_number, r.date_start, r.date_finish, r.updated_at, r.status_code
			FROM reports r JOIN companies c ON c.id = r.company_id JOIN vehicles v ON v.id = r.vehicle_id WHERE r.id = $1`, newest.ReportID).
			Scan(&rep.RefKey, &rep.ReportNumber, &rep.ContractNumber, &rep.RejectReason, &rep.BIIN, &rep.GUID, &rep.VIN, &rep.Plate,
				&rep.DateStart, &rep.DateFinish, &rep.UpdatedAt, &rep.Status); err != nil {
			t.Fatal(err)
		}
		var up struct {
			Size               int64
			SHA, First, Mobile string
			Lat, Lng           float64
			Sent, Created      time.Time
			Odometer, UserID   int64
		}
		if err := ta.DB.QueryRow(`SELECT u.size, u.sha256, us.first_name, us.mobile, u.lat, u.lng, u.time_sent, u.created_at, u.odometer, u.uploader_id
			FROM uploads u JOIN users us ON us.id = u.uploader_id WHERE u.id = $1`, newest.ID).
			Scan(&up.Size, &up.SHA, &up.First, &up.Mobile, &up.Lat, &up.Lng, &up.Sent, &up.Created, &up.Odometer, &up.UserID); err != nil {
			t.Fatal(err)
		}
		var history []any
		rows, err := ta.DB.Query(`SELECT status_code, reject_reason, actor, created_at FROM report_events WHERE report_id = $1 ORDER BY id`, newest.ReportID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var code int
			var reason, actor string
			var at time.Time
			if err := rows.Scan(&code, &reason, &actor, &at); err != nil {
				t.Fatal(err)
			}
			history = append(history, map[string]any{"status_code": code, "reject_reason": reason, "actor": actor, "at": reports.FormatDateTime(at)})
		}
		rows.Close()
		if len(history) != 4 { // 1 from 1C, 2 by the upload, 4 by 1C, 2 by the second upload
			t.Fatalf("history rows: %v", history)
		}

		want := map[string]any{
			"ref_key": rep.RefKey, "report_number": rep.ReportNumber, "contract_number": rep.ContractNumber, "biin": rep.BIIN,
			"vehicle_guid": rep.GUID, "vin_code": rep.VIN, "plate_number": rep.Plate, "contract_date_end": item["contract_date_end"],
			"date_start": reports.FormatDateTime(rep.DateStart), "date_finish": reports.FormatDateTime(rep.DateFinish),
			"status_code": rep.Status, "status_title": reports.StatusTitle(rep.Status), "reject_reason": rep.RejectReason,
			"changed_at": reports.FormatDateTime(rep.UpdatedAt),
			"upload": map[string]any{"video_url": "(checked below)", "size": up.Size, "sha256": up.SHA, "lat": up.Lat, "long": up.Lng,
				"time_sent": reports.FormatDateTime(up.Sent), "odometer": up.Odometer, "uploaded_at": reports.FormatDateTime(up.Created),
				"uploader": map[string]any{"user_id": up.UserID, "first_name": up.First, "mobile": up.Mobile}},
			"vin_check": map[string]any{"status": "mismatch", "provider": "okpock", "vin_expected": "JTHBA30G665000001",
				"vin_found": "WVWZZZ1KZ6W000002", "facts": map[string]any{"mark": "LEXUS", "year": 2007},
				"odometer": map[string]any{"km": 120000, "ticket": "T-1"}, "checked_at": "2026-03-03T05:16:07Z"},
			"authenticity": map[string]any{"verdict": "fail",
				"reasons": []any{
					map[string]any{"code": "vin_mismatch", "level": "fail", "message": "VIN не совпадает", "facts": map[string]any{"found": "WVWZZZ1KZ6W000002"}},
					map[string]any{"code": "too_short", "level": "warn", "message": "short", "facts": map[string]any{}}},
				"video": map[string]any{"duration_s": 12.3, "width": 1920, "height": 1080, "recorded_at": "2026-03-03T10:10:00",
					"location": map[string]any{"lat": 43.2389, "long": 76.8897}, "make": "Apple", "model": "iPhone 15", "software": "17.3"},
				"checked_at": "2026-03-03T05:16:07Z"},
			"review_url": "(checked below)",
			"history":    history,
		}
		got := map[string]any{}
		for k, v := range item {
			got[k] = v
		}
		u := item["upload"].(map[string]any)
		link, err := url.Parse(u["video_url"].(string))
		if err != nil || !strings.Contains(link.Path, newest.ObjectKey) {
			t.Errorf("video_url %v is not the newest upload's (%s)", u["video_url"], newest.ObjectKey)
		}
		if dl := ta.Do(http.MethodGet, link.RequestURI(), nil); dl.Code != 200 || string(dl.Raw) != string(second) {
			t.Errorf("the video link downloads %d, %d bytes; want the newest video", dl.Code, len(dl.Raw))
		}
		if r, _ := item["review_url"].(string); !strings.Contains(r, "/review/"+apptest.TaskRef+"?expires=") {
			t.Errorf("review_url %q", r)
		}
		got["review_url"], want["upload"].(map[string]any)["video_url"] = "(checked below)", u["video_url"]
		if g, w := normal(t, got), normal(t, want); !reflect.DeepEqual(g, w) {
			gj, _ := json.MarshalIndent(g, "", " ")
			wj, _ := json.MarshalIndent(w, "", " ")
			t.Fatalf("the feed's item:\n%s\nwant:\n%s", gj, wj)
		}
	})
}

// normal is v as JSON decodes it, so that expected Go values compare with the decoded answer.
func normal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

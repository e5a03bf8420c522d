package onec_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/forteleasing/inspections/internal/apptest"
)

// The rows of issue 15's table (and issue 12's strict 1C JSON row), each sent as 1C or a phone sends it,
// on SQLite and PostgreSQL.

const bom = "\xef\xbb\xbf"

func send(a *apptest.App, method, path string, body []byte, contentType string, headers ...string) apptest.Answer {
	a.T.Helper()
	h := append(apptest.OneCAuth(), headers...)
	if contentType != "" {
		h = append(h, "Content-Type", contentType)
	}
	return a.Do(method, path, bytes.NewReader(body), h...)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cp1251(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storeState is every row 1C can write, in a stable order: equal before and after means nothing changed.
func storeState(t *testing.T, a *apptest.App) string {
	t.Helper()
	var sb strings.Builder
	for _, q := range []string{
		`SELECT id, biin, name, email, active, data_version, updated_at FROM companies ORDER BY id`,
		`SELECT id, company_id, role, first_name, last_name, patronic_name, mobile FROM users ORDER BY id`,
		`SELECT id, ref_key, title, instructions, image_etag, data_version, updated_at FROM vehicle_types ORDER BY id`,
		`SELECT id, guid, company_id, vehicle_type_id, vin_code, plate_number, contract_number, contract_date_end, data_version FROM vehicles ORDER BY id`,
		`SELECT id, ref_key, vehicle_id, report_number, date_start, date_finish, status_code, reject_reason, data_version, change_seq FROM reports ORDER BY id`,
		`SELECT id, report_id, status_code, reject_reason FROM report_events ORDER BY id`,
	} {
		rows, err := a.DB.Queryx(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&sb, "%v|", v)
			}
			sb.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return sb.String()
}

func wantUnchanged(t *testing.T, a *apptest.App, before string) {
	t.Helper()
	if after := storeState(t, a); after != before {
		t.Fatalf("a refused call changed the store:\nbefore %s\nafter  %s", before, after)
	}
}

func oneString(t *testing.T, a *apptest.App, q string, args ...any) string {
	t.Helper()
	var s string
	if err := a.DB.Get(&s, a.DB.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func company(biin, name string) map[string]any {
	return map[string]any{"biin": biin, "name": name, "email": "boss@" + biin + ".kz",
		"director": map[string]any{"first_name": "Дир", "last_name": "Ектор", "mobile": "+77000000000"}, "active": true}
}

func report(ref, vehicle string, status int) map[string]any {
	return map[string]any{"ref_key": ref, "report_number": "000000077", "contract_number": "№1", "vehicle_guid": vehicle,
		"date_start": "2026-03-01T00:00:00", "date_finish": "2026-12-31T00:00:00", "status_code": status}
}

// fieldOf returns the first field error of a 422 answer: its index (-1 when none), field and message.
func fieldOf(t *testing.T, ans apptest.Answer) (int, string, string) {
	t.Helper()
	fields, _ := ans.Data()["fields"].([]any)
	if len(fields) == 0 {
		t.Fatalf("no fields in %s", ans.Raw)
	}
	f := fields[0].(map[string]any)
	idx := -1
	if n, ok := f["index"].(float64); ok {
		idx = int(n)
	}
	field, _ := f["field"].(string)
	msg, _ := f["message"].(string)
	return idx, field, msg
}

func TestInterop_BOMIsSkippedOnEveryUpsertAndTheDecision(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		for _, c := range []struct {
			path string
			body any
		}{
			{"/1c/companies", []any{company("000000000000", "ТОО БОМ")}},
			{"/1c/vehicle-types", []any{map[string]any{"ref_key": "bom-type", "title": "Тип", "instructions": []string{"Шаг"}}}},
			{"/1c/vehicles", []any{map[string]any{"vehicle_guid": "bom-vehicle", "biin": apptest.DemoBIN, "vehicle_type_code": "bom-type",
				"vin_code": "XWW212140K2365328", "plate_number": "777BOM02", "contract_number": "№1"}}},
			{"/1c/reports", []any{report("bom-report-1", "bom-vehicle", 2), report("bom-report-2", "bom-vehicle", 2)}},
		} {
			for _, ct := range []string{"application/json", "application/json; charset=utf-8", ""} {
				ans := send(a, http.MethodPut, c.path, append([]byte(bom), mustJSON(t, c.body)...), ct)
				if ans.Code != 200 {
					t.Fatalf("PUT %s (%q) with a BOM: %d %s", c.path, ct, ans.Code, ans.Raw)
				}
			}
		}
		if n := oneString(t, a, `SELECT name FROM companies WHERE biin = '000000000000'`); n != "ТОО БОМ" {
			t.Fatalf("company name %q", n)
		}
		ans := send(a, http.MethodPost, "/1c/reports/bom-report-1/decision", []byte(bom+`{"status_code": 3}`), "application/json")
		apptest.WantStatus(t, ans, 200, "")
		ans = send(a, http.MethodPost, "/1c/reports/bom-report-2/decision", []byte(bom+"status_code=4&reject_reason=%D0%9D%D0%B5%D1%82+VIN"),
			"application/x-www-form-urlencoded")
		apptest.WantStatus(t, ans, 200, "")
		if s := oneString(t, a, `SELECT reject_reason FROM reports WHERE ref_key = 'bom-report-2'`); s != "Нет VIN" {
			t.Fatalf("reject_reason %q", s)
		}
		if n := apptest.Count(t, a, `SELECT count(*) FROM reports WHERE ref_key IN ('bom-report-1', 'bom-report-2') AND status_code IN (3, 4)`); n != 2 {
			t.Fatalf("decided reports: %d", n)
		}
	})
}

func TestInterop_Windows1251IsTranscodedWhenDeclaredAndRefusedWhenNot(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		body := cp1251(t, `[{"biin":"000000000000","name":"ТОО Ромашка","email":"a@b.kz","director":{"first_name":"Айгерим"}}]`)
		for _, ct := range []string{"application/json; charset=windows-1251", "application/json; charset=cp1251"} {
			apptest.WantStatus(t, send(a, http.MethodPut, "/1c/companies", body, ct), 200, "")
		}
		if n := oneString(t, a, `SELECT name FROM companies WHERE biin = '000000000000'`); n != "ТОО Ромашка" {
			t.Fatalf("stored name %q", n)
		}
		if n := oneString(t, a, `SELECT first_name FROM users u JOIN companies c ON c.id = u.company_id WHERE c.biin = '000000000000'`); n != "Айгерим" {
			t.Fatalf("stored director %q", n)
		}

		// The same bytes without the declaration: refused, naming the item and the field, nothing written.
		before := storeState(t, a)
		undeclared := cp1251(t, `[{"biin":"000000000000","name":"ТОО Лютик","email":"a@b.kz","director":{"first_name":"Ай"}}]`)
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", ""} {
			ans := send(a, http.MethodPut, "/1c/companies", undeclared, ct)
			apptest.WantStatus(t, ans, 422, "invalid_encoding")
			if idx, field, _ := fieldOf(t, ans); idx != 0 || field != "name" {
				t.Fatalf("named index %d field %q: %s", idx, field, ans.Raw)
			}
		}
		ans := send(a, http.MethodPost, "/1c/reports/"+"x"+"/decision", cp1251(t, `{"status_code":4,"reject_reason":"Нет"}`), "application/json")
		apptest.WantStatus(t, ans, 422, "invalid_encoding")
		if _, field, _ := fieldOf(t, ans); field != "reject_reason" {
			t.Fatalf("decision: named %q", field)
		}
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/companies", body, "application/json; charset=x-klingon"), 422, "unsupported_charset")
		wantUnchanged(t, a, before)

		// The app: a form in windows-1251 without the declaration names the field; declared, it is read.
		emp := "role_id=2&uuid=cp1251-device&FCM=f&mobile=%2B77001112233&first_name=" + string(urlEscape(cp1251(t, "Айдар")))
		ans = a.Do(http.MethodPost, "/biin/"+apptest.DemoBIN, strings.NewReader(emp), "Content-Type", "application/x-www-form-urlencoded")
		apptest.WantStatus(t, ans, 422, "invalid_encoding")
		if _, field, _ := fieldOf(t, ans); field != "first_name" {
			t.Fatalf("app form: named %q", field)
		}
		ans = a.Do(http.MethodPost, "/biin/"+apptest.DemoBIN, strings.NewReader(emp), "Content-Type", "application/x-www-form-urlencoded; charset=windows-1251")
		apptest.WantStatus(t, ans, 200, "")
		cred := "Basic " + b64(apptest.DemoBIN+"-cp1251-device:"+a.LastOTP())
		apptest.WantStatus(t, a.Do(http.MethodPost, "/auth", nil, "Authorization", cred), 200, "")
		if n := oneString(t, a, `SELECT first_name FROM users WHERE mobile = '+77001112233'`); n != "Айдар" {
			t.Fatalf("employee first_name %q", n)
		}
	})
}

func urlEscape(b []byte) []byte {
	var out []byte
	for _, c := range b {
		out = append(out, fmt.Sprintf("%%%02X", c)...)
	}
	return out
}

func TestInterop_DataVersionOrdersAsOneCMeansIt(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		biin := "000000000000"
		put := func(version any, name string) apptest.Answer {
			c := company(biin, name)
			c["data_version"] = version
			return send(a, http.MethodPut, "/1c/companies", mustJSON(t, []any{c}), "application/json")
		}
		want := func(ans apptest.Answer, upserted, skipped float64, name string) {
			t.Helper()
			if ans.Code != 200 || ans.Data()["upserted"] != upserted || ans.Data()["skipped"] != skipped {
				t.Fatalf("want upserted %v skipped %v: %d %s", upserted, skipped, ans.Code, ans.Raw)
			}
			if n := oneString(t, a, `SELECT name FROM companies WHERE biin = $1`, biin); n != name {
				t.Fatalf("stored name %q, want %q", n, name)
			}
		}
		// 1C's DataVersion: counter 0xCF, then 0xD0. As text "AAAA0..." < "AAAAz...", and the newer was skipped.
		want(put("AAAAzwAAAAA=", "v cf"), 1, 0, "v cf")
		want(put("AAAA0AAAAAA=", "v d0"), 1, 0, "v d0")
		want(put("AAAAzwAAAAA=", "v cf replayed"), 0, 1, "v d0")
		// Decimal integers as numbers, whether sent as JSON numbers or strings (another company: a
		// base64 value against a number compares as text).
		biin = "100000000001"
		want(put(9, "nine"), 1, 0, "nine")
		want(put("10", "ten"), 1, 0, "ten")
		want(put(9, "nine again"), 0, 1, "ten")
	})
}

func TestInterop_OneCsEmptyDateIsNoDate(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		vehicle := map[string]any{"vehicle_guid": "nodate-vehicle", "biin": apptest.DemoBIN, "vehicle_type_code": apptest.CarType,
			"vin_code": "XWW212140K2365328", "plate_number": "111NOD02", "contract_number": "№2", "contract_date_end": "0001-01-01T00:00:00"}
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/vehicles", mustJSON(t, []any{vehicle}), "application/json"), 200, "")
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/reports", mustJSON(t, []any{report("nodate-report", "nodate-vehicle", 1)}), "application/json"), 200, "")

		tok := a.Token(apptest.DemoBIN, apptest.Director("nodate-dev"))
		ans := a.Get("/reports/vehicle/select/nodate-vehicle", tok)
		apptest.WantStatus(t, ans, 200, "")
		this := ans.Data()["info"].(map[string]any)["this"].(map[string]any)
		if v, ok := this["contract_date_end"]; !ok || v != "" {
			t.Fatalf("app: contract_date_end %v (present %v)", v, ok)
		}
		feed := send(a, http.MethodGet, "/1c/reports?limit=1000", nil, "")
		apptest.WantStatus(t, feed, 200, "")
		found := false
		for _, it := range feed.Data()["reports"].([]any) {
			item := it.(map[string]any)
			if item["ref_key"] == "nodate-report" {
				found = true
				if v, ok := item["contract_date_end"]; !ok || v != "" {
					t.Fatalf("feed: contract_date_end %v (present %v)", v, ok)
				}
			}
		}
		if !found {
			t.Fatal("the report is not in the feed")
		}

		// A report cannot go without its dates: 1C's empty date is "required", and nothing is written.
		before := storeState(t, a)
		for _, field := range []string{"date_start", "date_finish"} {
			for _, empty := range []string{"0001-01-01T00:00:00", ""} {
				bad := report("nodate-report-2", "nodate-vehicle", 1)
				bad[field] = empty
				ans := send(a, http.MethodPut, "/1c/reports", mustJSON(t, []any{report("nodate-ok", "nodate-vehicle", 1), bad}), "application/json")
				apptest.WantStatus(t, ans, 422, "")
				idx, f, msg := fieldOf(t, ans)
				if idx != 1 || f != field || !strings.Contains(msg, "required") {
					t.Fatalf("%s=%q: index %d field %q message %q", field, empty, idx, f, msg)
				}
			}
		}
		wantUnchanged(t, a, before)
	})
}

func TestInterop_GUIDsAreCaseInsensitive(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		const upper, lower = "8E3B2A10-5C7D-4E1F-9A2B-3C4D5E6F7A8B", "8e3b2a10-5c7d-4e1f-9a2b-3c4d5e6f7a8b"
		const refUpper, refLower = "A1B2C3D4-0000-4000-8000-0000000000AA", "a1b2c3d4-0000-4000-8000-0000000000aa"
		vehicle := func(guid, plate string) []byte {
			return mustJSON(t, []any{map[string]any{"vehicle_guid": guid, "biin": apptest.DemoBIN, "vehicle_type_code": strings.ToUpper(apptest.CarType),
				"vin_code": "XWW212140K2365328", "plate_number": plate, "contract_number": "№3"}})
		}
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/vehicles", vehicle(upper, "111UPP02"), "application/json"), 200, "")
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/vehicles", vehicle(lower, "222UPP02"), "application/json"), 200, "")
		if n := apptest.Count(t, a, `SELECT count(*) FROM vehicles WHERE lower(guid) = $1`, lower); n != 1 {
			t.Fatalf("%d rows for one GUID in two cases", n)
		}
		if g := oneString(t, a, `SELECT guid FROM vehicles WHERE plate_number = '222UPP02'`); g != lower {
			t.Fatalf("stored guid %q", g)
		}
		rep := report(refUpper, upper, 2)
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/reports", mustJSON(t, []any{rep}), "application/json"), 200, "")
		rep["ref_key"], rep["report_number"] = refLower, "000000078"
		apptest.WantStatus(t, send(a, http.MethodPut, "/1c/reports", mustJSON(t, []any{rep}), "application/json"), 200, "")
		if n := apptest.Count(t, a, `SELECT count(*) FROM reports WHERE lower(ref_key) = $1`, refLower); n != 1 {
			t.Fatalf("%d report rows for one ref_key in two cases", n)
		}

		// Paths: the app's lists and select, 1C's QR and decision, the type image.
		tok := a.Token(apptest.DemoBIN, apptest.Director("guid-dev"))
		ans := a.Get("/reports/vehicle/select/"+upper, tok)
		apptest.WantStatus(t, ans, 200, "")
		general := ans.Data()["reports"].(map[string]any)["general"].([]any)
		if len(general) != 1 || general[0].(map[string]any)["ref_key"] != refLower || general[0].(map[string]any)["vehicle_type_code"] != apptest.CarType {
			t.Fatalf("select answers %s", ans.Raw)
		}
		ans = a.Get("/reports/general/filter/null/null/"+upper, tok)
		apptest.WantStatus(t, ans, 200, "")
		if g := ans.Data()["reports"].(map[string]any)["general"].([]any); len(g) != 1 || g[0].(map[string]any)["vehicle_guid"] != lower {
			t.Fatalf("general filter answers %s", ans.Raw)
		}
		if qr := send(a, http.MethodGet, "/vehicle/qr/"+upper, nil, ""); qr.Code != 200 || qr.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("QR: %d %s", qr.Code, qr.Raw)
		}
		if img := a.Do(http.MethodGet, "/images/"+strings.ToUpper(apptest.CarType)+"/image.png", nil); img.Code != 200 {
			t.Fatalf("image: %d %s", img.Code, img.Raw)
		}
		ans = send(a, http.MethodPost, "/1c/reports/"+refUpper+"/decision", []byte(`{"status_code":3}`), "application/json")
		apptest.WantStatus(t, ans, 200, "")
		if ans.Str("ref_key") != refLower {
			t.Fatalf("decision answers ref_key %q", ans.Str("ref_key"))
		}
		// Within one batch, two spellings of one key are one key: a duplicate.
		before := storeState(t, a)
		twice := mustJSON(t, []any{report(refUpper, lower, 1), report(refLower, lower, 1)})
		ans = send(a, http.MethodPut, "/1c/reports", twice, "application/json")
		apptest.WantStatus(t, ans, 422, "")
		if idx, f, _ := fieldOf(t, ans); idx != 1 || f != "ref_key" {
			t.Fatalf("duplicate in two cases: index %d field %q", idx, f)
		}
		wantUnchanged(t, a, before)
	})
}

func TestInterop_OneCKeysMatchExactlyOnceAndInUTF8(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		before := storeState(t, a)
		demo := company(apptest.DemoBIN, "Переименована")
		for name, c := range map[string]struct {
			body, field string
			index       int
			code        string
		}{
			// "BIIN" used to be matched case-insensitively and renamed the demo company.
			"wrong case": {strings.Replace(string(mustJSON(t, []any{demo})), `"biin"`, `"BIIN"`, 1), "BIIN", 0, ""},
			"wrong case nested": {strings.Replace(string(mustJSON(t, []any{company("000000000000", "x"), demo})), `"first_name"`, `"First_Name"`, 1),
				"director.First_Name", 0, ""},
			"duplicate key": {`[{"biin":"000000000000","name":"x","email":"a@b.kz","director":{"first_name":"a"},"biin":"` + apptest.DemoBIN + `"}]`,
				"biin", 0, ""},
			"invalid UTF-8": {"[{\"biin\":\"" + apptest.DemoBIN + "\",\"name\":\"\xff\xfe\",\"email\":\"a@b.kz\",\"director\":{\"first_name\":\"a\"}}]",
				"name", 0, "invalid_encoding"},
		} {
			ans := send(a, http.MethodPut, "/1c/companies", []byte(c.body), "application/json")
			apptest.WantStatus(t, ans, 422, c.code)
			if idx, f, msg := fieldOf(t, ans); idx != c.index || f != c.field {
				t.Fatalf("%s: index %d field %q (%s)", name, idx, f, msg)
			}
		}
		for name, body := range map[string]string{
			"wrong case": `{"Status_Code":3}`, "duplicate": `{"status_code":4,"status_code":3}`,
		} {
			ans := send(a, http.MethodPost, "/1c/reports/"+"anything"+"/decision", []byte(body), "application/json")
			apptest.WantStatus(t, ans, 422, "")
			if _, f, _ := fieldOf(t, ans); f != "Status_Code" && f != "status_code" {
				t.Fatalf("decision %s: field %q", name, f)
			}
		}
		wantUnchanged(t, a, before)
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func company(biin, name string) map[string]any {
	return map[string]any{"biin": biin, "name": name, "email": "boss@" + biin + ".kz",
		"director": map[string]any{"first_name": "Дир", "last_name": "Ектор", "mobile": "+77000000000"}, "active": true}
}

func (ta *testApp) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := ta.app.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOneC_WrongOrMissingCredentialsWriteNothing(t *testing.T) {
	ta := newTestApp(t, "")
	before := ta.count(t, `SELECT count(*) FROM companies`)
	body := []any{company("000000000000", "Новая")}
	for name, hdr := range map[string][]string{
		"missing":        nil,
		"wrong password": {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":nope"))},
		"wrong user":     {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+onecPass))},
		"bearer":         {"Authorization", "Bearer abc"},
	} {
		a := ta.jsonDo(http.MethodPut, "/1c/companies", body, hdr...)
		if a.code != 401 || a.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s", name, a.code, a.raw)
		}
	}
	if after := ta.count(t, `SELECT count(*) FROM companies`); after != before {
		t.Fatalf("companies %d → %d after refused calls", before, after)
	}
}

func TestOneC_CompaniesAreIdempotentAndAllOrNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		batch := []any{company("000000000000", "Первая")}
		for i := 0; i < 2; i++ {
			a := ta.jsonDo(http.MethodPut, "/1c/companies", batch, onecAuth()...)
			if a.code != 200 || a.data()["upserted"] != 1.0 || a.data()["skipped"] != 0.0 {
				t.Fatalf("upsert %d: %d %s", i, a.code, a.raw)
			}
		}
		if n := ta.count(t, `SELECT count(*) FROM companies WHERE biin = '000000000000'`); n != 1 {
			t.Fatalf("rows: %d", n)
		}
		bad := company("000000000001", "Вторая") // wrong check digit
		bad2 := company("100000000001", "")
		bad2["email"] = "not-an-email"
		a := ta.jsonDo(http.MethodPut, "/1c/companies", []any{company("200000000002", "Ок"), bad, bad2}, onecAuth()...)
		wantStatus(t, a, 422, "unprocessable")
		fields := a.data()["fields"].([]any)
		if len(fields) < 3 || fields[0].(map[string]any)["index"] != 1.0 {
			t.Fatalf("fields: %s", a.raw)
		}
		if n := ta.count(t, `SELECT count(*) FROM companies WHERE biin = '200000000002'`); n != 0 {
			t.Fatal("a valid item of a refused batch was written")
		}
		wantStatus(t, ta.do(http.MethodPut, "/1c/companies", strings.NewReader(`{"biin":"x"}`), append(onecAuth(), "Content-Type", "application/json")...), 400, "invalid_json")
		wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/companies", []any{}, onecAuth()...), 400, "empty_batch")
		unknown := company("000000000000", "x")
		unknown["colour"] = "red"
		wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/companies", []any{unknown}, onecAuth()...), 422, "unprocessable")
		big := make([]any, 1001)
		for i := range big {
			big[i] = company("000000000000", "x")
		}
		wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/companies", big, onecAuth()...), 413, "batch_too_large")
	})
}

func TestOneC_OlderDataVersionIsSkipped(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		c := company("000000000000", "Версия 10")
		c["data_version"] = 10
		ta.jsonDo(http.MethodPut, "/1c/companies", []any{c}, onecAuth()...)
		old := company("000000000000", "Версия 9")
		old["data_version"] = "9"
		a := ta.jsonDo(http.MethodPut, "/1c/companies", []any{old}, onecAuth()...)
		if a.data()["skipped"] != 1.0 || a.data()["upserted"] != 0.0 {
			t.Fatalf("older version: %s", a.raw)
		}
		var name string
		if err := ta.app.DB.Get(&name, `SELECT name FROM companies WHERE biin = '000000000000'`); err != nil || name != "Версия 10" {
			t.Fatalf("name %q %v", name, err)
		}
	})
}

func TestOneC_ReferencesToUnknownRowsAre422(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		a := ta.jsonDo(http.MethodPut, "/1c/vehicles", []any{
			map[string]any{"vehicle_guid": "v-ok", "biin": demoBIN, "vehicle_type_code": carType},
			map[string]any{"vehicle_guid": "v-1", "biin": "000000000000", "vehicle_type_code": carType},
			map[string]any{"vehicle_guid": "v-2", "biin": demoBIN, "vehicle_type_code": "no-such-type"},
		}, onecAuth()...)
		wantStatus(t, a, 422, "unprocessable")
		if !strings.Contains(string(a.raw), `"index":1,"field":"biin"`) || !strings.Contains(string(a.raw), `"index":2,"field":"vehicle_type_code"`) {
			t.Fatalf("fields: %s", a.raw)
		}
		if n := ta.count(t, `SELECT count(*) FROM vehicles WHERE guid = 'v-ok'`); n != 0 {
			t.Fatal("refused batch wrote a vehicle")
		}
		r := ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "r-1", "report_number": "1", "vehicle_guid": "nope",
			"date_start": "2026-01-01T00:00:00", "date_finish": "2026-01-08T00:00:00", "status_code": 1}}, onecAuth()...)
		wantStatus(t, r, 422, "unprocessable")
		r = ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "r-1", "report_number": "1", "vehicle_guid": binVehicle,
			"date_start": "yesterday", "date_finish": "2026-01-08T00:00:00", "status_code": 4}}, onecAuth()...)
		if r.code != 422 || !strings.Contains(string(r.raw), "date_start") || !strings.Contains(string(r.raw), "reject_reason") {
			t.Fatalf("bad report: %s", r.raw)
		}
	})
}

func TestOneC_StaleToSubmitDoesNotHideAnUpload(t *testing.T) {
	ta := newTestApp(t, "")
	ref := "646ba713-d1d7-11ec-9405-005056aaa4ae" // status 2 in the demo
	ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": "000000001", "vehicle_guid": binVehicle,
		"date_start": "2022-03-03T00:00:00", "date_finish": "2022-03-10T00:00:00", "status_code": 1}}, onecAuth()...)
	if s := ta.count(t, `SELECT status_code FROM reports WHERE ref_key = $1`, ref); s != 2 {
		t.Fatalf("status %d, want 2 kept", s)
	}
}

func TestOneC_VehicleMovedToAnotherCompanyTakesItsReports(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		a := ta.jsonDo(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": iinVehicle, "biin": demoBIN,
			"vehicle_type_code": carType, "plate_number": "264LE02"}}, onecAuth()...)
		wantStatus(t, a, 200, "")
		bin := ta.login(demoBIN, director("moved")).str("access_token")
		if a := ta.get("/reports/vehicle/select/"+iinVehicle, bin); a.code != 200 || !strings.Contains(string(a.raw), "d60ea4cb") {
			t.Fatalf("moved vehicle's reports: %d %s", a.code, a.raw)
		}
		iin := ta.login(demoIIN, director("left")).str("access_token")
		if a := ta.get("/reports/general/filter", iin); strings.Contains(string(a.raw), "d60ea4cb") {
			t.Fatal("the old company still sees the moved vehicle's report")
		}
	})
}

package onec_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestOneC_WrongOrMissingCredentialsWriteNothing(t *testing.T) {
	ta := apptest.New(t, "")
	before := apptest.Count(t, ta, `SELECT count(*) FROM companies`)
	body := []any{company("000000000000", "Новая")}
	for name, hdr := range map[string][]string{
		"missing":        nil,
		"wrong password": {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(apptest.OneCUser+":nope"))},
		"wrong user":     {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+apptest.OneCPass))},
		"bearer":         {"Authorization", "Bearer abc"},
	} {
		a := ta.JSON(http.MethodPut, "/1c/companies", body, hdr...)
		if a.Code != 401 || a.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s", name, a.Code, a.Raw)
		}
	}
	if after := apptest.Count(t, ta, `SELECT count(*) FROM companies`); after != before {
		t.Fatalf("companies %d → %d after refused calls", before, after)
	}
}

func TestOneC_CompaniesAreIdempotentAndAllOrNothing(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		batch := []any{company("000000000000", "Первая")}
		for i := 0; i < 2; i++ {
			a := ta.JSON(http.MethodPut, "/1c/companies", batch, apptest.OneCAuth()...)
			if a.Code != 200 || a.Data()["upserted"] != 1.0 || a.Data()["skipped"] != 0.0 {
				t.Fatalf("upsert %d: %d %s", i, a.Code, a.Raw)
			}
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM companies WHERE biin = '000000000000'`); n != 1 {
			t.Fatalf("rows: %d", n)
		}
		bad := company("000000000001", "Вторая") // wrong check digit
		bad2 := company("100000000001", "")
		bad2["email"] = "not-an-email"
		a := ta.JSON(http.MethodPut, "/1c/companies", []any{company("200000000002", "Ок"), bad, bad2}, apptest.OneCAuth()...)
		apptest.WantStatus(t, a, 422, "unprocessable")
		fields := a.Data()["fields"].([]any)
		if len(fields) < 3 || fields[0].(map[string]any)["index"] != 1.0 {
			t.Fatalf("fields: %s", a.Raw)
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM companies WHERE biin = '200000000002'`); n != 0 {
			t.Fatal("a valid item of a refused batch was written")
		}
		apptest.WantStatus(t, ta.Do(http.MethodPut, "/1c/companies", strings.NewReader(`{"biin":"x"}`), append(apptest.OneCAuth(), "Content-Type", "application/json")...), 400, "invalid_json")
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/companies", []any{}, apptest.OneCAuth()...), 400, "empty_batch")
		unknown := company("000000000000", "x")
		unknown["colour"] = "red"
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/companies", []any{unknown}, apptest.OneCAuth()...), 422, "unprocessable")
		big := make([]any, 1001)
		for i := range big {
			big[i] = company("000000000000", "x")
		}
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/companies", big, apptest.OneCAuth()...), 413, "batch_too_large")
	})
}

func TestOneC_OlderDataVersionIsSkipped(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		c := company("000000000000", "Версия 10")
		c["data_version"] = 10
		ta.JSON(http.MethodPut, "/1c/companies", []any{c}, apptest.OneCAuth()...)
		old := company("000000000000", "Версия 9")
		old["data_version"] = "9"
		a := ta.JSON(http.MethodPut, "/1c/companies", []any{old}, apptest.OneCAuth()...)
		if a.Data()["skipped"] != 1.0 || a.Data()["upserted"] != 0.0 {
			t.Fatalf("older version: %s", a.Raw)
		}
		var name string
		if err := ta.DB.Get(&name, `SELECT name FROM companies WHERE biin = '000000000000'`); err != nil || name != "Версия 10" {
			t.Fatalf("name %q %v", name, err)
		}
	})
}

func TestOneC_ReferencesToUnknownRowsAre422(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		a := ta.JSON(http.MethodPut, "/1c/vehicles", []any{
			map[string]any{"vehicle_guid": "v-ok", "biin": apptest.DemoBIN, "vehicle_type_code": apptest.CarType},
			map[string]any{"vehicle_guid": "v-1", "biin": "000000000000", "vehicle_type_code": apptest.CarType},
			map[string]any{"vehicle_guid": "v-2", "biin": apptest.DemoBIN, "vehicle_type_code": "no-such-type"},
		}, apptest.OneCAuth()...)
		apptest.WantStatus(t, a, 422, "unprocessable")
		if !strings.Contains(string(a.Raw), `"index":1,"field":"biin"`) || !strings.Contains(string(a.Raw), `"index":2,"field":"vehicle_type_code"`) {
			t.Fatalf("fields: %s", a.Raw)
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM vehicles WHERE guid = 'v-ok'`); n != 0 {
			t.Fatal("refused batch wrote a vehicle")
		}
		r := ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "r-1", "report_number": "1", "vehicle_guid": "nope",
			"date_start": "2026-01-01T00:00:00", "date_finish": "2026-01-08T00:00:00", "status_code": 1}}, apptest.OneCAuth()...)
		apptest.WantStatus(t, r, 422, "unprocessable")
		r = ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "r-1", "report_number": "1", "vehicle_guid": apptest.BINVehicle,
			"date_start": "yesterday", "date_finish": "2026-01-08T00:00:00", "status_code": 4}}, apptest.OneCAuth()...)
		if r.Code != 422 || !strings.Contains(string(r.Raw), "date_start") || !strings.Contains(string(r.Raw), "reject_reason") {
			t.Fatalf("bad report: %s", r.Raw)
		}
	})
}

func TestOneC_StaleToSubmitDoesNotHideAnUpload(t *testing.T) {
	ta := apptest.New(t, "")
	ref := "646ba713-d1d7-11ec-9405-005056aaa4ae" // status 2 in the demo
	ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": "000000001", "vehicle_guid": apptest.BINVehicle,
		"date_start": "2022-03-03T00:00:00", "date_finish": "2022-03-10T00:00:00", "status_code": 1}}, apptest.OneCAuth()...)
	if s := apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref); s != 2 {
		t.Fatalf("status %d, want 2 kept", s)
	}
}

func TestOneC_VehicleMovedToAnotherCompanyTakesItsReports(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		a := ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": apptest.IINVehicle, "biin": apptest.DemoBIN,
			"vehicle_type_code": apptest.CarType, "plate_number": "264LE02"}}, apptest.OneCAuth()...)
		apptest.WantStatus(t, a, 200, "")
		bin := ta.Login(apptest.DemoBIN, apptest.Director("moved")).Str("access_token")
		if a := ta.Get("/reports/vehicle/select/"+apptest.IINVehicle, bin); a.Code != 200 || !strings.Contains(string(a.Raw), "d60ea4cb") {
			t.Fatalf("moved vehicle's reports: %d %s", a.Code, a.Raw)
		}
		iin := ta.Login(apptest.DemoIIN, apptest.Director("left")).Str("access_token")
		if a := ta.Get("/reports/general/filter", iin); strings.Contains(string(a.Raw), "d60ea4cb") {
			t.Fatal("the old company still sees the moved vehicle's report")
		}
	})
}

func reportStatus(t *testing.T, ta *apptest.App, ref string) int {
	t.Helper()
	return apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}

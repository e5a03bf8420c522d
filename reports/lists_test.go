package reports_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestSeedShapes_EveryMobileAnswerMatchesTheSeed(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		otp := ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("shape-otp"))
		requireSeedShape(t, "otp", otp.Body)

		dir := ta.Login(apptest.DemoBIN, apptest.Director("shape-dir"))
		requireSeedShape(t, "auth_admin", dir.Body)
		if len(dir.Data()["reports"].(map[string]any)["general"].([]any)) == 0 {
			t.Fatal("the director's answer lists no reports for the demo company")
		}
		emp := ta.Login(apptest.DemoBIN, apptest.Employee("shape-emp", "87781578800", "Иван"))
		requireSeedShape(t, "auth_employee", emp.Body)
		if emp.Str("user_type") != "Сотрудник" || dir.Str("user_type") != "Директор" {
			t.Fatalf("user types: %q %q", dir.Str("user_type"), emp.Str("user_type"))
		}
		refreshed := ta.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+dir.Str("refresh_token"))
		requireSeedShape(t, "auth_admin", refreshed.Body)

		access := refreshed.Str("access_token")
		list := ta.Get("/employee/list", access)
		requireSeedShape(t, "employee_list", list.Body)
		if n := len(list.Data()["employees"].([]any)); n != 1 {
			t.Fatalf("employees: %d", n)
		}

		iin := ta.Login(apptest.DemoIIN, apptest.Director("shape-iin")).Str("access_token")
		general := ta.Get("/reports/general/filter/null/null/null", iin)
		requireSeedShape(t, "general_filter", general.Body)
		if n := len(general.Data()["reports"].(map[string]any)["general"].([]any)); n != 5 {
			t.Fatalf("IIN company's general reports: %d, want the seed's 5", n)
		}
		requireSeedShape(t, "vehicle_filter", ta.Get("/reports/vehicle/filter", iin).Body)
		sel := ta.Get("/reports/vehicle/select/"+apptest.BINVehicle, access)
		requireSeedShape(t, "vehicle_select", sel.Body)
		this := sel.Data()["info"].(map[string]any)["this"].(map[string]any)
		if this["image_path"] != "https://api.example.kz/images/"+apptest.CarType+"/image.png" || this["contract_date_end"] != "2023-11-16T00:00:00" {
			t.Fatalf("info.this: %v", this)
		}
		id := int(list.Data()["employees"].([]any)[0].(map[string]any)["id"].(float64))
		del := ta.Do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(id), nil, "Authorization", "Bearer "+access)
		requireSeedShape(t, "employee_delete", del.Body)
	})
}

func TestSeedValues_GeneralFilterRendersLikeTheSeed(t *testing.T) {
	ta := apptest.New(t, "")
	iin := ta.Login(apptest.DemoIIN, apptest.Director("values")).Str("access_token")
	a := ta.Get("/reports/general/filter", iin)
	var first map[string]any
	for _, r := range a.Data()["reports"].(map[string]any)["general"].([]any) {
		if r.(map[string]any)["ref_key"] == "d60ea4cb-e710-11ec-9405-005056aaa4ae" {
			first = r.(map[string]any)
		}
	}
	want := map[string]any{"report_number": "6", "date_start_render": "08 июня 2022", "date_start_datetime": "2022-06-08T00:00:00",
		"date_finish_render": "13 июня 2022", "status_title": "Одобрено", "status_code": 3.0, "status_expired_title": "",
		"status_expired_bool": false, "reject_reason": "89898989898989\nihghghghh", "plate_number": "264LE02",
		"vehicle_type_code": "b71ea01f-1664-11ea-8dad-1831bf7dd029"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %#v, want %#v", k, first[k], v)
		}
	}
	types := a.Data()["info"].(map[string]any)["by_vehicle_type_code"].(map[string]any)
	truck := types["b71ea01f-1664-11ea-8dad-1831bf7dd029"].(map[string]any)
	if truck["vehicle_type_title"] != "Грузовой автомобиль" || len(truck["instructions"].([]any)) != 0 {
		t.Fatalf("truck type: %v", truck)
	}
	car := types[apptest.CarType].(map[string]any)["instructions"].(map[string]any)
	if car["1"] != "Сфотографировать лобовое стекло" || car["10"] != "Сфотографировать аккумулятор" {
		t.Fatalf("car instructions: %v", car)
	}
	status := a.Data()["filter"].(map[string]any)["status"].(map[string]any)
	if status["1"] != "Сдать Отчет" || status["4"] != "Отказано" {
		t.Fatalf("filter.status: %v", status)
	}
}

func TestReports_FilterSegmentsAndBadValues(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		tok := ta.Login(apptest.DemoIIN, apptest.Director("filters")).Str("access_token")
		count := func(path string) int {
			t.Helper()
			a := ta.Get(path, tok)
			if a.Code != 200 {
				t.Fatalf("%s: %d %s", path, a.Code, a.Raw)
			}
			r := a.Data()["reports"].(map[string]any)
			return len(r["important"].([]any)) + len(r["general"].([]any))
		}
		for path, want := range map[string]int{
			"/reports/general/filter":                                 5,
			"/reports/general/filter/":                                5,
			"/reports/general/filter/null":                            5,
			"/reports/general/filter/NULL/Null/null":                  5,
			"/reports/general/filter/2":                               4,
			"/reports/general/filter/3/null/" + apptest.IINVehicle:    1,
			"/reports/general/filter/null/null/" + apptest.IINVehicle: 1,
			"/reports/general/filter/2/null/" + apptest.IINVehicle:    0,
			"/reports/general/filter/null/1y":                         0, // the seed's reports are from 2022
			"/reports/vehicle/filter":                                 5,
			"/reports/vehicle/filter/3":                               1,
			"/reports/vehicle/filter/null/1w":                         0,
			"/reports/general/filter/null/null/null?limit=2":          2,
			"/reports/general/filter/null/null/null?limit=2&offset=4": 1,
		} {
			if got := count(path); got != want {
				t.Errorf("%s: %d reports, want %d", path, got, want)
			}
		}
		for path, field := range map[string]string{
			"/reports/general/filter/5":                                 "status_code",
			"/reports/general/filter/x":                                 "status_code",
			"/reports/general/filter/null/2w":                           "date_range_code",
			"/reports/vehicle/filter/1/1w/extra":                        "",
			"/reports/general/filter/1/1w/" + apptest.IINVehicle + "/x": "",
			"/reports/general/filter?limit=0":                           "limit",
			"/reports/general/filter?limit=501":                         "limit",
			"/reports/general/filter?offset=-1":                         "offset",
		} {
			a := ta.Get(path, tok)
			if a.Code != 400 || !strings.Contains(string(a.Raw), field) {
				t.Errorf("%s: %d %s", path, a.Code, a.Raw)
			}
		}
		a := ta.Get("/reports/general/filter/9", tok)
		if !strings.Contains(string(a.Raw), "1, 2, 3, 4") {
			t.Errorf("the error does not name the allowed statuses: %s", a.Raw)
		}
		a = ta.Get("/reports/general/filter/null/5y", tok)
		if !strings.Contains(string(a.Raw), "1w, 1m, 6m, 1y") {
			t.Errorf("the error does not name the allowed ranges: %s", a.Raw)
		}
	})
}

func TestReports_VehicleFilterPriorityAndExpiry(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		guid := "prio-vehicle"
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": apptest.DemoBIN,
			"vehicle_type_code": apptest.CarType, "plate_number": "001AAA01"}}, apptest.OneCAuth()...), 200, "")
		rep := func(ref string, status int, start, finish string) map[string]any {
			m := map[string]any{"ref_key": ref, "report_number": ref, "vehicle_guid": guid, "date_start": start, "date_finish": finish, "status_code": status}
			if status == 4 {
				m["reject_reason"] = "Плохое видео"
			}
			return m
		}
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{
			rep("p-3", 3, "2024-01-05T00:00:00", "2024-01-10T00:00:00"),
			rep("p-2", 2, "2024-01-04T00:00:00", "2024-01-10T00:00:00"),
			rep("p-1", 1, "2024-01-03T00:00:00", "2024-01-10T00:00:00"),
			rep("p-4-old", 4, "2024-01-01T00:00:00", "2024-01-10T00:00:00"),
			rep("p-4-new", 4, "2024-01-02T00:00:00", "2099-01-10T00:00:00"),
		}, apptest.OneCAuth()...), 200, "")
		tok := ta.Login(apptest.DemoBIN, apptest.Director("prio")).Str("access_token")
		a := ta.Get("/reports/vehicle/filter", tok)
		var row map[string]any
		for _, r := range a.Data()["reports"].(map[string]any)["important"].([]any) {
			if r.(map[string]any)["vehicle_guid"] == guid {
				row = r.(map[string]any)
			}
		}
		if row == nil || row["ref_key"] != "p-4-new" || row["report_status_priority_code"] != 4.0 || row["report_status_priority_title"] != "Отказано" {
			t.Fatalf("vehicle row: %v", row)
		}
		if row["status_expired_bool"] != false {
			t.Fatalf("a rejected report due in 2099 is expired: %v", row)
		}
		sel := ta.Get("/reports/vehicle/select/"+guid, tok)
		for _, r := range sel.Data()["reports"].(map[string]any)["important"].([]any) {
			m := r.(map[string]any)
			if m["ref_key"] == "p-1" && (m["status_expired_bool"] != true || m["status_expired_title"] != "Просрочено") {
				t.Fatalf("overdue report not flagged: %v", m)
			}
		}
		for _, r := range sel.Data()["reports"].(map[string]any)["general"].([]any) {
			if s := r.(map[string]any)["status_code"]; s != 2.0 && s != 3.0 {
				t.Fatalf("status %v in general", s)
			}
		}
	})
}

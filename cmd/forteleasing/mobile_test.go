package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestSeedShapes_EveryMobileAnswerMatchesTheSeed(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		otp := ta.jsonDo(http.MethodPost, "/biin/"+demoBIN, director("shape-otp"))
		requireSeedShape(t, "otp", otp.body)

		dir := ta.login(demoBIN, director("shape-dir"))
		requireSeedShape(t, "auth_admin", dir.body)
		if len(dir.data()["reports"].(map[string]any)["general"].([]any)) == 0 {
			t.Fatal("the director's answer lists no reports for the demo company")
		}
		emp := ta.login(demoBIN, employee("shape-emp", "87781578800", "Иван"))
		requireSeedShape(t, "auth_employee", emp.body)
		if emp.str("user_type") != "Сотрудник" || dir.str("user_type") != "Директор" {
			t.Fatalf("user types: %q %q", dir.str("user_type"), emp.str("user_type"))
		}
		refreshed := ta.do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+dir.str("refresh_token"))
		requireSeedShape(t, "auth_admin", refreshed.body)

		access := refreshed.str("access_token")
		list := ta.get("/employee/list", access)
		requireSeedShape(t, "employee_list", list.body)
		if n := len(list.data()["employees"].([]any)); n != 1 {
			t.Fatalf("employees: %d", n)
		}

		iin := ta.login(demoIIN, director("shape-iin")).str("access_token")
		general := ta.get("/reports/general/filter/null/null/null", iin)
		requireSeedShape(t, "general_filter", general.body)
		if n := len(general.data()["reports"].(map[string]any)["general"].([]any)); n != 5 {
			t.Fatalf("IIN company's general reports: %d, want the seed's 5", n)
		}
		requireSeedShape(t, "vehicle_filter", ta.get("/reports/vehicle/filter", iin).body)
		sel := ta.get("/reports/vehicle/select/"+binVehicle, access)
		requireSeedShape(t, "vehicle_select", sel.body)
		this := sel.data()["info"].(map[string]any)["this"].(map[string]any)
		if this["image_path"] != "https://api.example.kz/images/"+carType+"/image.png" || this["contract_date_end"] != "2023-11-16T00:00:00" {
			t.Fatalf("info.this: %v", this)
		}
		id := int(list.data()["employees"].([]any)[0].(map[string]any)["id"].(float64))
		del := ta.do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(id), nil, "Authorization", "Bearer "+access)
		requireSeedShape(t, "employee_delete", del.body)
	})
}

func TestSeedValues_GeneralFilterRendersLikeTheSeed(t *testing.T) {
	ta := newTestApp(t, "")
	iin := ta.login(demoIIN, director("values")).str("access_token")
	a := ta.get("/reports/general/filter", iin)
	var first map[string]any
	for _, r := range a.data()["reports"].(map[string]any)["general"].([]any) {
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
	types := a.data()["info"].(map[string]any)["by_vehicle_type_code"].(map[string]any)
	truck := types["b71ea01f-1664-11ea-8dad-1831bf7dd029"].(map[string]any)
	if truck["vehicle_type_title"] != "Грузовой автомобиль" || len(truck["instructions"].([]any)) != 0 {
		t.Fatalf("truck type: %v", truck)
	}
	car := types[carType].(map[string]any)["instructions"].(map[string]any)
	if car["1"] != "Сфотографировать лобовое стекло" || car["10"] != "Сфотографировать аккумулятор" {
		t.Fatalf("car instructions: %v", car)
	}
	status := a.data()["filter"].(map[string]any)["status"].(map[string]any)
	if status["1"] != "Сдать Отчет" || status["4"] != "Отказано" {
		t.Fatalf("filter.status: %v", status)
	}
}

func TestReports_FilterSegmentsAndBadValues(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		tok := ta.login(demoIIN, director("filters")).str("access_token")
		count := func(path string) int {
			t.Helper()
			a := ta.get(path, tok)
			if a.code != 200 {
				t.Fatalf("%s: %d %s", path, a.code, a.raw)
			}
			r := a.data()["reports"].(map[string]any)
			return len(r["important"].([]any)) + len(r["general"].([]any))
		}
		for path, want := range map[string]int{
			"/reports/general/filter":                                 5,
			"/reports/general/filter/":                                5,
			"/reports/general/filter/null":                            5,
			"/reports/general/filter/NULL/Null/null":                  5,
			"/reports/general/filter/2":                               4,
			"/reports/general/filter/3/null/" + iinVehicle:            1,
			"/reports/general/filter/null/null/" + iinVehicle:         1,
			"/reports/general/filter/2/null/" + iinVehicle:            0,
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
			"/reports/general/filter/5":                         "status_code",
			"/reports/general/filter/x":                         "status_code",
			"/reports/general/filter/null/2w":                   "date_range_code",
			"/reports/vehicle/filter/1/1w/extra":                "",
			"/reports/general/filter/1/1w/" + iinVehicle + "/x": "",
			"/reports/general/filter?limit=0":                   "limit",
			"/reports/general/filter?limit=501":                 "limit",
			"/reports/general/filter?offset=-1":                 "offset",
		} {
			a := ta.get(path, tok)
			if a.code != 400 || !strings.Contains(string(a.raw), field) {
				t.Errorf("%s: %d %s", path, a.code, a.raw)
			}
		}
		a := ta.get("/reports/general/filter/9", tok)
		if !strings.Contains(string(a.raw), "1, 2, 3, 4") {
			t.Errorf("the error does not name the allowed statuses: %s", a.raw)
		}
		a = ta.get("/reports/general/filter/null/5y", tok)
		if !strings.Contains(string(a.raw), "1w, 1m, 6m, 1y") {
			t.Errorf("the error does not name the allowed ranges: %s", a.raw)
		}
	})
}

func TestEnvelope_UnknownRouteWrongMethodAndTooLargeBody(t *testing.T) {
	ta := newTestApp(t, "")
	wantStatus(t, ta.do(http.MethodGet, "/nope", nil), 404, "not_found")
	wantStatus(t, ta.do(http.MethodGet, "/auth", nil), 405, "method_not_allowed")
	// Over a real connection: the server answers 413 without reading the body.
	base := ta.listen()
	body := `{"uuid":"` + strings.Repeat("x", 70<<10) + `"}`
	for name, length := range map[string]int64{"declared length": int64(len(body)), "chunked": -1} {
		req, _ := http.NewRequest(http.MethodPost, base+"/biin/"+demoBIN, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = length
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
	wantStatus(t, ta.get("/employee/list", "not-a-token"), 401, "invalid_token")
	wantStatus(t, ta.do(http.MethodGet, "/employee/list", nil), 401, "missing_token")
}

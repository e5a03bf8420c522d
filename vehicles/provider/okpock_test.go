package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// Payloads copied from the Okpock document.
const (
	okpockInfoAnswer = `{
  "VIN": "JTHBG262282011458",
  "plate": "A929YLO"
}`
	okpockPreviewAnswer = `{
  "mark": "LEXUS",
  "model": "IS300",
  "vehicle_year": 2007,
  "registration_actions_found": true,
  "road_accidents_found": false
}`
	okpockReportAnswer = `{
  "report": {
    "car_info": {
      "vin": "WVWZZZ31ZLE147331",
      "base_info": {
        "engine_volume": 1781,
        "engine_power_kwt": 66,
        "empty_weight": 1160,
        "plated_weight": 1700,
        "manufacturer": "",
        "mark": "VOLKSWAGEN",
        "model": "PASSAT",
        "origin_country": "Германия",
        "seating_count": 5,
        "vehicle_year": 1990,
        "vehicle_age_category": "",
        "vehicle_category": "Легковые автомобили",
        "vehicle_category_wide": "",
        "vehicle_type": "",
        "vehicle_color": "ЦВЕТ НЕОПРЕДЕЛЕН",
        "vehicle_count": 1
      },
      "additional_info": ""
    },
    "registration_history": [
      {
        "action": "ПОСТАНОВКА",
        "address": "ПАВЛОДАРСКАЯ ОБЛАСТЬ, Г.ПАВЛОДАР",
        "person_type": "ФИЗ.ЛИЦО",
        "action_date": "2019-09-01T00:00:00Z"
      },
      {
        "action": "СНЯТИЕ",
        "address": "ПАВЛОДАРСКАЯ ОБЛАСТЬ, Г.ПАВЛОДАР",
        "person_type": "ФИЗ.ЛИЦО",
        "action_date": "2019-08-01T00:00:00Z"
      },
      {
        "action": "ПОСТАНОВКА",
        "address": "",
        "person_type": "ФИЗ.ЛИЦО",
        "action_date": "2013-06-20T00:00:00Z"
      },
      {
        "action": "СНЯТИЕ",
        "address": "",
        "person_type": "ФИЗ.ЛИЦО",
        "action_date": "2013-06-20T00:00:00Z"
      },
      {
        "action": "СНЯТИЕ",
        "address": "",
        "person_type": "ФИЗ.ЛИЦО",
        "action_date": "2013-06-20T00:00:00Z"
      }
    ],
    "road_accidents": [
      {
        "accident_date": "2019-07-23T00:00:00Z",
        "description": "ПЕРЕДНЯЯ ПРААВАЯ СТОРОНА КУЗОВА"
      }
    ]
  },
  "db_updated_at": ""
}`
	okpockNotFoundAnswer = `{
  "system": "OKPOCK",
  "status": 404,
  "message": "not_found",
  "devMessage": "Given plate or VIN not found"
}`
)

// okpockErrorAnswer gives the other listed codes the documented error shape and description.
func okpockErrorAnswer(status int) string {
	desc := map[int]string{
		400: "Invalid json request body | Empty plate or VIN",
		401: "Missing basic auth credentials | Invalid auth credentials",
		403: "User agent not allowed or disabled",
		406: "Missing required header",
		500: "Internal server error",
		501: "Not implemented (due to changed JSON payload)",
		503: "Service unavailable (due to provider)",
		504: "Gateway timeout (due to request timeout)",
	}[status]
	if status == 404 {
		return okpockNotFoundAnswer
	}
	return fmt.Sprintf(`{"system": "OKPOCK", "status": %d, "message": %q, "devMessage": %q}`, status, http.StatusText(status), desc)
}

var okpockTestConfig = OkpockConfig{User: "fl-user", Password: "s3cr3t-okpock-pw", UserAgent: "ForteLeasing/1.0"}

func newOkpockFake(t *testing.T) *fakeProvider {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != okpockTestConfig.User || pass != okpockTestConfig.Password {
			reply(w, 401, "application/json", okpockErrorAnswer(401))
			return
		}
		if r.UserAgent() != okpockTestConfig.UserAgent {
			reply(w, 403, "application/json", okpockErrorAnswer(403))
			return
		}
		switch {
		case body == `{"plate":"A929YLO"}` && r.URL.Path == "/info":
			reply(w, 200, "application/json", okpockInfoAnswer)
		case body == `{"plate":"A929YLO"}` && r.URL.Path == "/preview":
			reply(w, 200, "application/json", okpockPreviewAnswer)
		case body == `{"VIN":"WVWZZZ31ZLE147331"}` && r.URL.Path == "/report":
			reply(w, 200, "application/json", okpockReportAnswer)
		default:
			reply(w, 404, "application/json", okpockNotFoundAnswer)
		}
	})
}

func okpockClient(url string, opts Options) *Okpock {
	cfg := okpockTestConfig
	cfg.URL = url
	return NewOkpock(cfg, opts)
}

func TestOkpockInfo_SendsDocumentedRequestAndReadsVIN(t *testing.T) {
	srv := newOkpockFake(t)
	c := okpockClient(srv.URL, fastOptions(nil))

	f, err := c.VINByPlate(context.Background(), "a 929 ylo")
	if err != nil {
		t.Fatal(err)
	}
	want := VehicleFacts{Provider: "okpock", VIN: "JTHBG262282011458", Plate: "A929YLO"}
	if fmt.Sprint(f) != fmt.Sprint(want) {
		t.Errorf("facts = %+v, want %+v", f, want)
	}
	req := srv.last(t)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("fl-user:s3cr3t-okpock-pw"))
	if req.Method != "POST" || req.Path != "/info" || req.Body != `{"plate":"A929YLO"}` ||
		req.Header.Get("Authorization") != wantAuth || req.Header.Get("User-Agent") != "ForteLeasing/1.0" ||
		req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s %s headers %v", req.Method, req.Path, req.Body, req.Header)
	}
}

func TestOkpockPreview_ReadsMarkModelYearAndNoAccidents(t *testing.T) {
	srv := newOkpockFake(t)
	f, err := okpockClient(srv.URL, fastOptions(nil)).Preview(context.Background(), Query{Plate: "A929YLO"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Make != "LEXUS" || f.Model != "IS300" || f.Year != 2007 || f.Accidents == nil || *f.Accidents != 0 ||
		f.Raw["registration_actions_found"] != true || f.Raw["road_accidents_found"] != false {
		t.Errorf("facts = %+v", f)
	}
	if req := srv.last(t); req.Path != "/preview" || req.Body != `{"plate":"A929YLO"}` {
		t.Errorf("request = %s %s", req.Path, req.Body)
	}
}

func TestOkpockPreview_AccidentsFoundLeavesCountUnknown(t *testing.T) {
	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", `{"mark": "LEXUS", "model": "IS300", "vehicle_year": 2007, "registration_actions_found": true, "road_accidents_found": true}`)
	})
	f, err := okpockClient(srv.URL, fastOptions(nil)).Preview(context.Background(), Query{VIN: "JTHBG262282011458"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Accidents != nil || f.Raw["road_accidents_found"] != true || f.VIN != "JTHBG262282011458" {
		t.Errorf("facts = %+v", f)
	}
	if req := srv.last(t); req.Body != `{"VIN":"JTHBG262282011458"}` {
		t.Errorf("body = %s", req.Body)
	}
}

func TestOkpockReport_ReadsFullReportByVIN(t *testing.T) {
	srv := newOkpockFake(t)
	r, err := okpockClient(srv.URL, fastOptions(nil)).Report(context.Background(), Query{VIN: "wvwzzz31zle147331"})
	if err != nil {
		t.Fatal(err)
	}
	info := r.Report.CarInfo.BaseInfo
	if info.Mark != "VOLKSWAGEN" || info.EngineVolume != 1781 || info.OriginCountry != "Германия" ||
		len(r.Report.RegistrationHistory) != 5 || r.Report.RegistrationHistory[0].ActionDate != "2019-09-01T00:00:00Z" ||
		len(r.Report.RoadAccidents) != 1 || r.Report.RoadAccidents[0].Description != "ПЕРЕДНЯЯ ПРААВАЯ СТОРОНА КУЗОВА" {
		t.Errorf("report = %+v", r)
	}
	f := r.Facts()
	if f.VIN != "WVWZZZ31ZLE147331" || f.Make != "VOLKSWAGEN" || f.Model != "PASSAT" || f.Year != 1990 ||
		f.Accidents == nil || *f.Accidents != 1 || f.Raw["registrations"] != 5 {
		t.Errorf("facts = %+v", f)
	}
	if req := srv.last(t); req.Method != "POST" || req.Path != "/report" {
		t.Errorf("request = %s %s", req.Method, req.Path)
	}
}

func TestOkpock_MapsEveryDocumentedErrorCode(t *testing.T) {
	tests := []struct {
		status int
		kind   error
		calls  int
	}{
		{400, ErrBadRequest, 1},
		{401, ErrUnauthorized, 1},
		{403, ErrUnauthorized, 1},
		{404, ErrNotFound, 1},
		{406, ErrBadRequest, 1},
		{500, ErrUnavailable, 1},
		{501, ErrUnavailable, 1},
		{503, ErrUnavailable, 3}, // retried
		{504, ErrUnavailable, 3}, // retried
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
				reply(w, tt.status, "application/json", okpockErrorAnswer(tt.status))
			})
			_, err := okpockClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "A929YLO")
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Provider != "okpock" || e.Status != tt.status {
				t.Fatalf("err = %#v", err)
			}
			if tt.status == 404 && (e.Code != "not_found" || e.Message != "Given plate or VIN not found") {
				t.Errorf("code, message = %q, %q", e.Code, e.Message)
			}
			if srv.calls() != tt.calls {
				t.Errorf("calls = %d, want %d", srv.calls(), tt.calls)
			}
		})
	}
}

func TestOkpock_WrongPasswordIsUnauthorizedWithoutLeakingIt(t *testing.T) {
	srv := newOkpockFake(t)
	cfg := okpockTestConfig
	cfg.URL, cfg.Password = srv.URL, "wrong-pw-xyz"
	_, err := NewOkpock(cfg, fastOptions(nil)).VINByPlate(context.Background(), "A929YLO")
	if !errors.Is(err, ErrUnauthorized) || srv.calls() != 1 {
		t.Fatalf("err = %v after %d calls", err, srv.calls())
	}
	assertNoSecrets(t, err, "wrong-pw-xyz")
}

func TestOkpock_EmptyQueryIsRejectedWithoutNetwork(t *testing.T) {
	srv := newOkpockFake(t)
	_, err := okpockClient(srv.URL, fastOptions(nil)).Preview(context.Background(), Query{Plate: " - "})
	if !errors.Is(err, ErrBadRequest) || srv.calls() != 0 {
		t.Fatalf("err = %v after %d calls", err, srv.calls())
	}
}

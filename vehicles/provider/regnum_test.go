package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Payloads copied from the REGNUM document, indentation included.
const (
	regnumJSONAnswer = `{
  "data": {
    "datacar": [
      {
        "vin": "KMHVA31JPPU******",
        "hpCar": "72",
        "ktype": 4550,
        "kwCar": "53",
        "manID": 183,
        "modID": 1296,
        "ccmCar": "1468",
        "colour": "BLANC",
        "bodyCar": "3/5 portes",
        "typeCar": "1.5",
        "doorsCar": "5",
        "manufCar": "HYUNDAI",
        "modelCar": "PONY (X-2)",
        "tyresCar": "",
        "widthCar": "160",
        "brakeType": "Disques / tambour",
        "driveType": "Traction avant",
        "fuelSuply": "Injection dans le collecteur d'admission/Carburateur",
        "heightCar": "0",
        "lengthCar": "410",
        "colourCode": "",
        "descEngine": "1636",
        "fuelSystem": "Essence",
        "typeEngine": "Essence",
        "brakeSystem": "hydraulique",
        "listEngines": "G15B;G4DJ",
        "co2RatingCar": "182",
        "shortNameCar": "HYUNDAI PONY (X-2) 1.5",
        "valvesEngine": "8",
        "typeToYearCar": "199501",
        "catalystSystem": "avec catalyseur réglé",
        "cylindersEngine": "4",
        "typeFromYearCar": "198910",
        "transmissionType": "MECANIQUE",
        "dateOfLastRegistration": "20171009",
        "dateOfFirstRegistration": ""
      }
    ]
  },
  "status": 200,
  "statusText": "",
  "countFREERequests": 0
}`
	regnumXMLAnswer = `        <?xml version="1.0" encoding="UTF-8"?>
        <getktype>
        <status>200</status>
        <statusText></statusText>
        <countFREERequests>0</countFREERequests>
        <data>
            <datacar>
                <ktype>4550</ktype>
                <shortNameCar>HYUNDAI PONY (X-2) 1.5</shortNameCar>
                <modID>1296</modID>
                <manID>183</manID>
                <manufCar>HYUNDAI</manufCar>
                <modelCar>PONY (X-2)</modelCar>
                <typeCar>1.5</typeCar>
                <typeFromYearCar>198910</typeFromYearCar>
                <typeToYearCar>199501</typeToYearCar>
                <bodyCar>3/5 portes</bodyCar>
                <ccmCar>1468</ccmCar>
                <kwCar>53</kwCar>
                <hpCar>72</hpCar>
                <listEngines>G15B;G4DJ</listEngines>
                <valvesEngine>8</valvesEngine>
                <cylindersEngine>4</cylindersEngine>
                <typeEngine>Essence</typeEngine>
                <descEngine>1636</descEngine>
                <brakeSystem>hydraulique</brakeSystem>
                <brakeType>Disques / tambour</brakeType>
                <catalystSystem>avec catalyseur réglé</catalystSystem>
                <fuelSuply>Injection dans le collecteur d'admission/Carburateur</fuelSuply>
                <fuelSystem>Essence</fuelSystem>
                <transmissionType>MECANIQUE</transmissionType>
                <driveType>Traction avant</driveType>
                <widthCar>160</widthCar>
                <heightCar>0</heightCar>
                <lengthCar>410</lengthCar>
                <doorsCar>5</doorsCar>
                <co2RatingCar>182</co2RatingCar>
                <colour>BLANC</colour>
                <colourCode></colourCode>
                <tyresCar></tyresCar>
                <dateOfFirstRegistration></dateOfFirstRegistration>
                <dateOfLastRegistration>20171009</dateOfLastRegistration>
                <vin>KMHVA31JPPU******</vin>
            </datacar>
            <empty>false</empty>
        </data>
    </getktype>`
)

// regnumError answers an error status in the documented header fields, without a car.
func regnumError(format string, status int) string {
	text := map[int]string{
		401: "client not found. Wrong id and/or seccode in request",
		402: "Request was not processed as client have zero balance",
		403: "Client is found, but using temp status. Need wait confirmation client account",
		404: "REGNUM was not decoded",
		503: "REGNUM service not active",
	}[status]
	if format == "xml" {
		return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<getktype>
<status>%d</status>
<statusText>%s</statusText>
<countFREERequests>0</countFREERequests>
<data>
    <empty>true</empty>
</data>
</getktype>`, status, text)
	}
	return fmt.Sprintf(`{"data": {"datacar": []}, "status": %d, "statusText": %q, "countFREERequests": 0}`, status, text)
}

var regnumTestConfig = RegnumConfig{ID: "client-7", Seccode: "seccode-Zq81x", Service: "FR"}

func regnumClient(url string, opts Options) *Regnum {
	cfg := regnumTestConfig
	cfg.URL = url + "/apifunction"
	return NewRegnum(cfg, opts)
}

func TestRegnum_SendsDocumentedQuery(t *testing.T) {
	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", regnumJSONAnswer)
	})
	if _, err := regnumClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "ab-123-cd"); err != nil {
		t.Fatal(err)
	}
	req := srv.last(t)
	want := map[string]string{"id": "client-7", "seccode": "seccode-Zq81x", "nameservice": "FR", "regnum": "AB123CD", "contenttype": "JSON"}
	if req.Method != "GET" || req.Path != "/apifunction" || len(req.Query) != len(want) {
		t.Errorf("request = %s %s %v", req.Method, req.Path, req.Query)
	}
	for k, v := range want {
		if got := req.Query[k]; len(got) != 1 || got[0] != v {
			t.Errorf("query %s = %v, want %s", k, got, v)
		}
	}
}

func TestRegnum_ReadsDocumentedJSONAndXMLAnswers(t *testing.T) {
	for _, tt := range []struct{ name, contentType, body string }{
		{"json", "application/json", regnumJSONAnswer},
		{"xml", "application/xml", regnumXMLAnswer},
		{"xml served as text/html", "text/html", regnumXMLAnswer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
				reply(w, 200, tt.contentType, tt.body)
			})
			f, err := regnumClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "AB123CD")
			if err != nil {
				t.Fatal(err)
			}
			if f.Provider != "regnum" || f.VIN != "KMHVA31JPPU******" || f.Plate != "AB123CD" || f.Make != "HYUNDAI" ||
				f.Model != "PONY (X-2)" || f.Year != 0 || f.Accidents != nil {
				t.Errorf("facts = %+v", f)
			}
			wantRaw := map[string]any{"vin_masked": true, "ktype": "4550", "shortNameCar": "HYUNDAI PONY (X-2) 1.5",
				"typeFromYearCar": "198910", "typeToYearCar": "199501", "dateOfLastRegistration": "20171009"}
			if fmt.Sprint(f.Raw) != fmt.Sprint(wantRaw) {
				t.Errorf("raw = %v, want %v", f.Raw, wantRaw)
			}
			if !MatchVIN("KMHVA31JPPU123456", f.VIN) {
				t.Error("masked VIN does not match its prefix")
			}
		})
	}
}

func TestRegnum_MapsEveryDocumentedStatus(t *testing.T) {
	tests := []struct {
		status int
		kind   error
		calls  int
	}{
		{401, ErrUnauthorized, 1},
		{402, ErrQuota, 1},
		{403, ErrUnauthorized, 1},
		{404, ErrNotFound, 1},
		{503, ErrUnavailable, 3},
	}
	for _, format := range []string{"json", "xml"} {
		for _, httpStatus := range []string{"200", "same"} {
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%s/http-%s/%d", format, httpStatus, tt.status), func(t *testing.T) {
					srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
						code := 200
						if httpStatus == "same" {
							code = tt.status
						}
						reply(w, code, "application/"+format, regnumError(format, tt.status))
					})
					_, err := regnumClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "AB123CD")
					if !errors.Is(err, tt.kind) {
						t.Fatalf("err = %v, want %v", err, tt.kind)
					}
					if e, ok := errors.AsType[*Error](err); !ok || e.Status != tt.status {
						t.Errorf("err = %#v", err)
					}
					if srv.calls() != tt.calls {
						t.Errorf("calls = %d, want %d", srv.calls(), tt.calls)
					}
					assertNoSecrets(t, err, "seccode-Zq81x")
				})
			}
		}
	}
}

func TestRegnum_DecodedWithoutCarIsNotFound(t *testing.T) {
	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", `{"data": {"datacar": []}, "status": 200, "statusText": "", "countFREERequests": 0}`)
	})
	_, err := regnumClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "AB123CD")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestRegnum_ErrorsNeverCarryTheSeccode(t *testing.T) {
	// The seccode travels in the query string, which Go's url.Error prints whole.
	opts := fastOptions(nil)
	opts.MaxTries = 1
	_, err := regnumClient(closedURL(t), opts).VINByPlate(context.Background(), "AB123CD")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecrets(t, err, "seccode-Zq81x", "seccode=")
	if !strings.Contains(err.Error(), "/apifunction") {
		t.Errorf("err = %q, want the path kept", err)
	}

	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "text/plain", "oops seccode-Zq81x")
	})
	_, err = regnumClient(srv.URL, opts).VINByPlate(context.Background(), "AB123CD")
	assertNoSecrets(t, err, "seccode-Zq81x")
}

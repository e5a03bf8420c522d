package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const (
	vagToken          = "vag-token-5Kq2"
	vagCallbackSecret = "cb-secret-Xy71"
)

func vagClient(url string, opts Options) *VAGVIN {
	return NewVAGVIN(VAGVINConfig{URL: url + "/api/processing_queue", Token: vagToken, CallbackSecret: vagCallbackSecret}, opts)
}

// callbackRoute is our side of the callback as the Fiber route will do it: header and body in, status out.
func callbackRoute(t *testing.T, c *VAGVIN, results chan<- CallbackResult) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		res, err := c.ParseCallback(r.Header.Get(CallbackSecretHeader), body)
		switch {
		case errors.Is(err, ErrUnauthorized):
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusOK)
			results <- res
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestVAGVIN_QueuedCheckComesBackOnTheCallback(t *testing.T) {
	results := make(chan CallbackResult, 1)
	var callbackURL string
	wrongSecretStatus := make(chan int, 1)
	vag := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", `{"id": "q-1042", "status": "queued"}`)
		// Hours later in real life: the service posts the result back, once with a stale secret.
		go func() {
			post := func(secret string) int {
				req, _ := http.NewRequest("POST", callbackURL, bytes.NewBufferString(
					`{"id": "q-1042", "vin": "WVWZZZ31ZLE147331", "check_type": "check_elsa_pro_full", "status": "done", "report_url": "https://vagvin.example/r/q-1042.pdf"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(CallbackSecretHeader, secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			wrongSecretStatus <- post("stale-secret")
			post(vagCallbackSecret)
		}()
	})
	c := vagClient(vag.URL, fastOptions(nil))
	callbackURL = callbackRoute(t, c, results).URL

	id, err := c.Submit(context.Background(), CheckRequest{VIN: "wvwzzz31zle147331", Type: CheckElsaPro, Brand: "volkswagen", Language: LangRussian})
	if err != nil || id != "q-1042" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	req := vag.last(t)
	wantBody := `{"token":"vag-token-5Kq2","vin":"WVWZZZ31ZLE147331","check_type":"check_elsa_pro_full","car_brand":"Volkswagen","report_language":"Русский"}`
	if req.Method != "POST" || req.Path != "/api/processing_queue" || req.Body != wantBody || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s %s", req.Method, req.Path, req.Body)
	}

	if s := <-wrongSecretStatus; s != http.StatusUnauthorized {
		t.Errorf("wrong secret answered %d, want 401", s)
	}
	select {
	case res := <-results:
		if res.CheckID != "q-1042" || res.VIN != "WVWZZZ31ZLE147331" || res.CheckType != CheckElsaPro ||
			res.Status != "done" || res.ReportURL != "https://vagvin.example/r/q-1042.pdf" {
			t.Errorf("callback = %+v", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no callback")
	}
	select {
	case res := <-results:
		t.Errorf("a second callback got through: %+v", res)
	default:
	}
}

func TestVAGVIN_SubmitSendsOptionalParameters(t *testing.T) {
	vag := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", `{"check_id": 77}`)
	})
	id, err := vagClient(vag.URL, fastOptions(nil)).Submit(context.Background(), CheckRequest{
		VIN: "JH4KA7630PC007649", Type: CheckCarVertical, Language: LangEnglish,
		TelegramID: "123456", ClientEmail: "client@example.com", CopyEmail: "ops@forteleasing.kz",
	})
	if err != nil || id != "77" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	want := `{"token":"vag-token-5Kq2","vin":"JH4KA7630PC007649","check_type":"check_CarVertical","report_language":"Английский","telegram_id":"123456","client_email":"client@example.com","your_email":"ops@forteleasing.kz"}`
	if got := vag.last(t).Body; got != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}

func TestVAGVIN_SubmitValidatesAgainstTheDocumentsTable(t *testing.T) {
	vag := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", `{"id": "x"}`)
	})
	c := vagClient(vag.URL, fastOptions(nil))
	bad := []CheckRequest{
		{VIN: "WVWZZZ31ZLE14733", Type: CheckElsaPro, Brand: "Audi", Language: LangRussian}, // 16 characters
		{VIN: "WVWZZZ31ZLE147331", Type: "check_everything", Brand: "Audi", Language: LangEnglish},
		{VIN: "WVWZZZ31ZLE147331", Type: CheckElsaPro, Brand: "BMW", Language: LangRussian}, // not a VAG brand
		{VIN: "WVWZZZ31ZLE147331", Type: CheckErwin, Brand: "Audi", Language: LangRussian},  // English only
		{VIN: "WVWZZZ31ZLE147331", Type: CheckMultiBrand, Brand: "", Language: LangEnglish}, // brand required
	}
	for _, r := range bad {
		if _, err := c.Submit(context.Background(), r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Submit(%+v) err = %v", r, err)
		}
	}
	if vag.calls() != 0 {
		t.Errorf("provider saw %d requests", vag.calls())
	}
}

func TestVAGVIN_Balance(t *testing.T) {
	vag := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/json", `{"balance": 1500.5}`)
	})
	b, err := vagClient(vag.URL, fastOptions(nil)).Balance(context.Background())
	if err != nil || b != 1500.5 {
		t.Fatalf("Balance = %v, %v", b, err)
	}
	if got := vag.last(t).Body; got != `{"token":"vag-token-5Kq2","check_type":"get_balance"}` {
		t.Errorf("body = %s", got)
	}
}

func TestVAGVIN_MapsErrors(t *testing.T) {
	tests := []struct {
		status      int
		body        string
		kind        error
		submitCalls int
	}{
		{401, `{"error": "bad token vag-token-5Kq2"}`, ErrUnauthorized, 1},
		{402, `{"error": "insufficient balance"}`, ErrQuota, 1},
		{403, `{"error": "forbidden"}`, ErrUnauthorized, 1},
		{400, `{"error": "vin required"}`, ErrBadRequest, 1},
		{200, `{"error": "Недостаточно средств, token vag-token-5Kq2"}`, ErrBadRequest, 1},
		{200, `{"success": false, "message": "unknown check_type"}`, ErrBadRequest, 1},
		{500, `oops`, ErrUnavailable, 1},
		{503, `{"error": "maintenance"}`, ErrUnavailable, 3},
		{504, ``, ErrUnavailable, 1}, // a paid write is not repeated after a gateway timeout
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.body), func(t *testing.T) {
			vag := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
				reply(w, tt.status, "application/json", tt.body)
			})
			_, err := vagClient(vag.URL, fastOptions(nil)).Submit(context.Background(),
				CheckRequest{VIN: "WVWZZZ31ZLE147331", Type: CheckEtka, Brand: "Audi", Language: LangEnglish})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if vag.calls() != tt.submitCalls {
				t.Errorf("calls = %d, want %d", vag.calls(), tt.submitCalls)
			}
			assertNoSecrets(t, err, vagToken, vagCallbackSecret)
		})
	}
}

func TestParseCallback(t *testing.T) {
	jsonBody := []byte(`{"id": "q-1", "vin": "wvwzzz31zle147331", "check_type": "check_erwin_full", "status": "error", "error": "VIN not in dealer base"}`)
	tests := []struct {
		name               string
		presented, secret  string
		body               []byte
		kind               error
		wantID, wantStatus string
	}{
		{"json", vagCallbackSecret, vagCallbackSecret, jsonBody, nil, "q-1", "error"},
		{"form", vagCallbackSecret, vagCallbackSecret, []byte("id=q-2&vin=WVWZZZ31ZLE147331&status=done&report_url=https%3A%2F%2Fx%2Fr.pdf"), nil, "q-2", "done"},
		{"wrong secret", "nope", vagCallbackSecret, jsonBody, ErrUnauthorized, "", ""},
		{"secret prefix", vagCallbackSecret[:4], vagCallbackSecret, jsonBody, ErrUnauthorized, "", ""},
		{"no secret presented", "", vagCallbackSecret, jsonBody, ErrUnauthorized, "", ""},
		{"not configured", "", "", jsonBody, ErrNotConfigured, "", ""},
		{"empty body", vagCallbackSecret, vagCallbackSecret, nil, ErrBadRequest, "", ""},
		{"broken json", vagCallbackSecret, vagCallbackSecret, []byte(`{"id":`), ErrBadRequest, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ParseCallback(tt.presented, tt.body, tt.secret)
			if tt.kind != nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("err = %v, want %v", err, tt.kind)
				}
				assertNoSecrets(t, err, vagCallbackSecret)
				return
			}
			if err != nil || res.CheckID != tt.wantID || res.Status != tt.wantStatus || res.VIN != "WVWZZZ31ZLE147331" {
				t.Errorf("res = %+v, %v", res, err)
			}
		})
	}
	res, _ := ParseCallback(vagCallbackSecret, jsonBody, vagCallbackSecret)
	raw, _ := json.Marshal(res.Raw)
	if res.Error != "VIN not in dealer base" || res.CheckType != CheckErwin || len(raw) < 10 {
		t.Errorf("res = %+v", res)
	}
}

func TestVAGVIN_AcceptedWithoutJSONIsNotAFailure(t *testing.T) {
	vag := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "text/plain", "OK")
	})
	c := vagClient(vag.URL, fastOptions(nil))
	id, err := c.Submit(context.Background(), CheckRequest{VIN: "WVWZZZ31ZLE147331", Type: CheckErwin, Brand: "Audi", Language: LangEnglish})
	if err != nil || id != "" {
		t.Errorf("Submit = %q, %v; want accepted without an id", id, err)
	}
	if _, err := c.Balance(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Balance err = %v", err)
	}
}

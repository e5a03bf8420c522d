package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/deptest"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestReadiness_RedWhileMinIOIsDownGreenAfter(t *testing.T) {
	raw := apptest.BucketURL(t)
	u, _ := url.Parse(raw)
	p := deptest.StartProxy(t, u.Host, 1<<40) // a path to MinIO that the test can cut
	u.Host = p.Addr()
	ta := apptest.New(t, "", "FL_MEDIA_URL", u.String())
	ready := func() (int, map[string]any) {
		resp, err := ta.HTTP.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := ready(); code != 200 || body["status"] != "ok" {
		t.Fatalf("ready: %d %v", code, body)
	}
	p.Cut() // MinIO unreachable
	code, body := ready()
	checks := body["checks"].(map[string]any)
	if code != 503 || body["status"] != "unavailable" || checks["object_store"] == "ok" || checks["database"] != "ok" {
		t.Fatalf("with MinIO down: %d %v", code, body)
	}
	p.Reopen(t) // MinIO back on the same address
	if code, body := ready(); code != 200 {
		t.Fatalf("after MinIO returned: %d %v", code, body)
	}
}

func TestReadiness_RedWhenTheDatabaseIsGone(t *testing.T) {
	ta := apptest.New(t, "")
	if resp, _ := ta.HTTP.Test(httptest.NewRequest(http.MethodGet, "/healthz", nil), -1); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	ta.DB.Close()
	resp, _ := ta.HTTP.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), -1)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"database"`) {
		t.Fatalf("readyz with the database closed: %d %s", resp.StatusCode, body)
	}
}

func TestMetricsAndAccessLog_CountRequestsWithoutSecrets(t *testing.T) {
	ta := apptest.New(t, "")
	a := ta.Login(apptest.DemoBIN, apptest.Director("metrics"))
	ta.Get("/reports/vehicle/select/"+apptest.BINVehicle, a.Str("access_token"))
	ta.Get("/nope", "")
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(ta.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`forteleasing_http_requests_total{method="GET",route="/reports/vehicle/select/:vehicle_guid",status="200"} 1`,
		`forteleasing_http_requests_total{method="POST",route="/auth",status="200"} 1`,
		`forteleasing_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`forteleasing_otps_sent_total 1`,
		`forteleasing_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s in:\n%s", want, grepLines(out, "forteleasing_http_requests_total"))
		}
	}
	logs := ta.Logs.String()
	if !strings.Contains(logs, `"route":"/reports/vehicle/select/:vehicle_guid"`) || !strings.Contains(logs, `"company_id":1`) {
		t.Errorf("access log lacks route or company: %s", logs)
	}
	for _, secret := range []string{a.Str("access_token"), a.Str("refresh_token"), "OTP: " + ta.LastOTP(), "email@mail.ru"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a secret: %q", secret)
		}
	}
	_ = bytes.MinRead
	_ = context.Background
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

package reports_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// listed finds ref in a general or vehicle-select answer and returns its item (nil when absent).
func listed(a apptest.Answer, ref string) map[string]any {
	reports, _ := a.Data()["reports"].(map[string]any)
	for _, part := range []string{"important", "general"} {
		items, _ := reports[part].([]any)
		for _, it := range items {
			if m := it.(map[string]any); m["ref_key"] == ref {
				return m
			}
		}
	}
	return nil
}

// The lists are served from a cache; every change 1C or the app makes must show in the very next answer.
func TestReports_ListsShowEveryChangeAtOnce(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		bin := ta.Login(apptest.DemoBIN, apptest.Director("cache-bin")).Str("access_token")
		iin := ta.Login(apptest.DemoIIN, apptest.Director("cache-iin")).Str("access_token")
		general := func(tok string) apptest.Answer {
			t.Helper()
			a := ta.Get("/reports/general/filter", tok)
			apptest.WantStatus(t, a, 200, "")
			return a
		}
		status := func(tok, ref string) any {
			t.Helper()
			if it := listed(general(tok), ref); it != nil {
				return it["status_code"]
			}
			return nil
		}
		if status(bin, apptest.TaskRef) != 1.0 {
			t.Fatal("the demo task is not listed with status 1")
		}
		ta.Get("/reports/vehicle/filter", bin) // warm both caches

		// An upload.
		apptest.WantStatus(t, ta.Upload(bin, apptest.Meta(apptest.TaskRef), apptest.MP4(2048), false), 201, "")
		if s := status(bin, apptest.TaskRef); s != 2.0 {
			t.Fatalf("after upload: status %v, want 2", s)
		}
		// A decision.
		apptest.WantStatus(t, ta.JSON(http.MethodPost, "/1c/reports/"+apptest.TaskRef+"/decision",
			map[string]any{"status_code": 4, "reject_reason": "Темно"}, apptest.OneCAuth()...), 200, "")
		if it := listed(general(bin), apptest.TaskRef); it == nil || it["status_code"] != 4.0 || it["reject_reason"] != "Темно" {
			t.Fatalf("after rejection: %v", it)
		}
		// A new task from 1C.
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "cache-new", "report_number": "77",
			"vehicle_guid": apptest.BINVehicle, "date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}},
			apptest.OneCAuth()...), 200, "")
		if status(bin, "cache-new") != 1.0 {
			t.Fatal("a new task is not listed at once")
		}
		// A new plate: in the items and in the filter block.
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": apptest.BINVehicle, "biin": apptest.DemoBIN,
			"vehicle_type_code": apptest.CarType, "plate_number": "999ZZZ02"}}, apptest.OneCAuth()...), 200, "")
		a := general(bin)
		if it := listed(a, "cache-new"); it == nil || it["plate_number"] != "999ZZZ02" {
			t.Fatalf("after a plate change: %v", it)
		}
		if !strings.Contains(string(a.Raw), `"plate_number":"999ZZZ02"`) || !strings.Contains(string(ta.Get("/reports/vehicle/filter", bin).Raw), "999ZZZ02") {
			t.Fatal("the filter block or the vehicle filter kept the old plate")
		}
		// The vehicle moves to the other company: its reports leave the first company's lists at once.
		if status(iin, "cache-new") != nil {
			t.Fatal("the other company sees the task before the move")
		}
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": apptest.BINVehicle, "biin": apptest.DemoIIN,
			"vehicle_type_code": apptest.CarType, "plate_number": "999ZZZ02"}}, apptest.OneCAuth()...), 200, "")
		if status(bin, "cache-new") != nil || status(bin, apptest.TaskRef) != nil {
			t.Fatal("the old company still lists the moved vehicle's reports")
		}
		if strings.Contains(string(ta.Get("/reports/vehicle/filter", bin).Raw), apptest.BINVehicle) {
			t.Fatal("the old company's vehicle filter still lists the moved vehicle")
		}
		if status(iin, "cache-new") != 1.0 {
			t.Fatal("the new company does not list the moved vehicle's task")
		}
	})
}

func TestReports_ListsAreServedGzippedToClientsThatAskForIt(t *testing.T) {
	ta := apptest.New(t, "")
	tok := ta.Login(apptest.DemoBIN, apptest.Director("gzip")).Str("access_token")
	for _, path := range []string{"/reports/general/filter", "/reports/vehicle/filter/null/1y"} {
		plain := ta.Get(path, tok)
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept-Encoding", "br;q=1.0, gzip;q=0.8")
		resp, err := ta.HTTP.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%s: Content-Encoding %q, Vary %q", path, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, plain.Raw) {
			t.Fatalf("%s: the gzip answer differs from the plain one (%v)", path, err)
		}
		req.Header.Set("Accept-Encoding", "gzip;q=0, identity")
		if resp, _ := ta.HTTP.Test(req, -1); resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s: gzip sent to a client that refused it", path)
		}
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/database/dbtest"
)

const (
	vinLexus = "JTHBG262282011458" // Okpock's /info example
	vinVW    = "WVWZZZ31ZLE147331" // Okpock's /report example
)

// fakeOkpock plays Okpock's /info and /preview with the document's payloads: a plate it knows answers its
// VIN, any other the document's 404. status, when set, is answered instead; hold, when set, blocks calls.
type fakeOkpock struct {
	*httptest.Server
	vins   map[string]string
	status atomic.Int32
	calls  atomic.Int32
	mu     sync.Mutex
	hold   chan struct{}
}

func newFakeOkpock(t *testing.T, vins map[string]string) *fakeOkpock {
	f := &fakeOkpock{vins: vins}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.mu.Lock()
		hold := f.hold
		f.mu.Unlock()
		if hold != nil {
			<-hold
		}
		w.Header().Set("Content-Type", "application/json")
		if s := f.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			fmt.Fprintf(w, `{"system":"OKPOCK","status":%d,"message":"service_unavailable","devMessage":"Service temporarily unavailable"}`, s)
			return
		}
		var q struct{ Plate string }
		_ = json.NewDecoder(r.Body).Decode(&q)
		vin, ok := f.vins[q.Plate]
		switch {
		case !ok:
			w.WriteHeader(404)
			io.WriteString(w, `{"system":"OKPOCK","status":404,"message":"not_found","devMessage":"Given plate or VIN not found"}`)
		case r.URL.Path == "/info":
			fmt.Fprintf(w, `{"VIN":%q,"plate":%q}`, vin, q.Plate)
		case r.URL.Path == "/preview":
			io.WriteString(w, `{"mark":"LEXUS","model":"IS300","vehicle_year":2007,"registration_actions_found":true,"road_accidents_found":false}`)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(func() {
		f.release()
		f.Close()
	})
	return f
}

func (f *fakeOkpock) holdCalls() {
	f.mu.Lock()
	f.hold = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeOkpock) release() {
	f.mu.Lock()
	if f.hold != nil {
		close(f.hold)
		f.hold = nil
	}
	f.mu.Unlock()
}

func okpockEnv(f *fakeOkpock) []string {
	return []string{"FL_OKPOCK_URL", f.URL, "FL_OKPOCK_USER", "fl", "FL_OKPOCK_PASSWORD", "okpock-pass", "FL_OKPOCK_USER_AGENT", "ForteLeasing/1.0"}
}

// vinVehicles adds vehicles with the given plates and 1C VINs to the demo company, each with a task; it
// returns the tasks' ref_keys by plate.
func vinVehicles(t *testing.T, ta *testApp, plates map[string]string) map[string]string {
	t.Helper()
	var vehicles, reports []any
	refs := map[string]string{}
	for plate, vin := range plates {
		guid, ref := "veh-"+plate, "task-"+plate
		refs[plate] = ref
		vehicles = append(vehicles, map[string]any{"vehicle_guid": guid, "biin": demoBIN, "vehicle_type_code": carType,
			"vin_code": vin, "plate_number": plate})
		reports = append(reports, map[string]any{"ref_key": ref, "report_number": ref, "vehicle_guid": guid,
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1})
	}
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/vehicles", vehicles, onecAuth()...), 200, "")
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", reports, onecAuth()...), 200, "")
	return refs
}

// vinChecks waits until every ref has a vin_check in the 1C feed whose status is not pending, and returns them.
func (ta *testApp) vinChecks(t *testing.T, refs ...string) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		items, _ := ta.readFeed(t, "", "0", 1000, nil)
		got := map[string]map[string]any{}
		for _, it := range items {
			if c, ok := it.raw["vin_check"].(map[string]any); ok && c["status"] != "pending" {
				got[it.RefKey] = c
			}
		}
		done := true
		for _, r := range refs {
			if got[r] == nil {
				done = false
			}
		}
		if done {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished vin_check for all of %v after 20 s (got %v)", refs, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestVINCheck_MatchMismatchAndNotFoundShowInTheFeed(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			f := newFakeOkpock(t, map[string]string{"111AAA02": vinLexus, "222BBB02": vinVW})
			url := ""
			if dialect == "postgres" {
				url = dbtest.PostgresURL(t)
			}
			ta := newTestApp(t, url, okpockEnv(f)...)
			refs := vinVehicles(t, ta, map[string]string{"111AAA02": vinLexus, "222BBB02": vinLexus, "333CCC02": vinVW})
			tok := ta.login(demoBIN, director("vin")).str("access_token")
			for _, ref := range refs {
				wantStatus(t, ta.upload(tok, meta(ref), makeMP4(2048), false), 201, "")
			}
			checks := ta.vinChecks(t, refs["111AAA02"], refs["222BBB02"], refs["333CCC02"])
			match, mismatch, notFound := checks[refs["111AAA02"]], checks[refs["222BBB02"]], checks[refs["333CCC02"]]
			if match["status"] != "match" || match["provider"] != "okpock" || match["vin_found"] != vinLexus || match["vin_expected"] != vinLexus {
				t.Errorf("match: %v", match)
			}
			if facts, _ := match["facts"].(map[string]any); facts["mark"] != "LEXUS" || facts["year"] != 2007.0 {
				t.Errorf("match facts: %v", match["facts"])
			}
			if mismatch["status"] != "mismatch" || mismatch["vin_found"] != vinVW || mismatch["vin_expected"] != vinLexus {
				t.Errorf("mismatch: %v", mismatch)
			}
			if notFound["status"] != "not_found" || notFound["vin_found"] != "" || notFound["checked_at"] == nil {
				t.Errorf("not found: %v", notFound)
			}
		})
	}
}

func TestVINCheck_UnconfiguredProvidersSayNotConfigured(t *testing.T) {
	ta := newTestApp(t, "")
	refs := vinVehicles(t, ta, map[string]string{"444DDD02": vinLexus})
	tok := ta.login(demoBIN, director("vin-nc"))
	wantStatus(t, ta.upload(tok.str("access_token"), meta(refs["444DDD02"]), makeMP4(2048), false), 201, "")
	if c := ta.vinChecks(t, refs["444DDD02"])[refs["444DDD02"]]; c["status"] != "not_configured" {
		t.Fatalf("vin_check %v", c)
	}
}

func TestVINCheck_PendingJobsSurviveARestartThenComplete(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			url := "sqlite://" + t.TempDir() + "/restart.db"
			if dialect == "postgres" {
				url = dbtest.PostgresURL(t)
			}
			f := newFakeOkpock(t, map[string]string{"555EEE02": vinLexus})
			f.status.Store(503) // Okpock is down
			quick := deps{vinRetry: func(int) time.Duration { return 300 * time.Millisecond }}
			first := newTestAppWith(t, url, quick, okpockEnv(f)...)
			refs := vinVehicles(t, first, map[string]string{"555EEE02": vinLexus})
			tok := first.login(demoBIN, director("vin-restart")).str("access_token")
			wantStatus(t, first.upload(tok, meta(refs["555EEE02"]), makeMP4(2048), false), 201, "")
			for deadline := time.Now().Add(15 * time.Second); first.count(t, `SELECT attempts FROM vin_checks`) < 1; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the check was never tried")
				}
			}
			if s := first.count(t, `SELECT count(*) FROM vin_checks WHERE status = 'pending'`); s != 1 {
				t.Fatalf("%d pending checks while Okpock is down", s)
			}
			first.app.close() // the service stops with the job waiting for its next try

			f.status.Store(0) // Okpock is back; a new process takes the job over
			second := newTestAppWith(t, url, quick, okpockEnv(f)...)
			c := second.vinChecks(t, refs["555EEE02"])[refs["555EEE02"]]
			if c["status"] != "match" {
				t.Fatalf("after the restart: %v", c)
			}
			if n := second.count(t, `SELECT attempts FROM vin_checks`); n < 2 {
				t.Fatalf("finished after %d tries; want a retry", n)
			}
		})
	}
}

func TestVINCheck_AHangingProviderNeverHoldsUploadsUp(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"666FFF02": vinLexus, "777GGG02": vinLexus})
	ta := newTestApp(t, "", okpockEnv(f)...)
	refs := vinVehicles(t, ta, map[string]string{"666FFF02": vinLexus, "777GGG02": vinLexus})
	tok := ta.login(demoBIN, director("vin-hang")).str("access_token")
	f.holdCalls() // every call to Okpock hangs until released
	wantStatus(t, ta.upload(tok, meta(refs["666FFF02"]), makeMP4(2048), false), 201, "")
	for deadline := time.Now().Add(10 * time.Second); f.calls.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the check never called Okpock")
		}
	}
	// Okpock is now holding the first check's call; uploads still answer at once.
	wantStatus(t, ta.upload(tok, meta(refs["777GGG02"]), makeMP4(2048), false), 201, "")
	for _, ref := range []string{refs["666FFF02"], refs["777GGG02"]} {
		if s := ta.reportStatus(t, ref); s != 2 {
			t.Fatalf("%s in status %d while Okpock hangs", ref, s)
		}
	}
	f.release()
	checks := ta.vinChecks(t, refs["666FFF02"], refs["777GGG02"])
	for ref, c := range checks {
		if c["status"] != "match" {
			t.Errorf("%s: %v", ref, c)
		}
	}
}

func TestVINCheck_OnDemandCheckFor1C(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"888HHH02": vinLexus})
	ta := newTestApp(t, "", okpockEnv(f)...)
	vinVehicles(t, ta, map[string]string{"888HHH02": vinVW})
	wantStatus(t, ta.do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil), 401, "")
	if f.calls.Load() != 0 {
		t.Fatal("a refused call reached Okpock")
	}
	wantStatus(t, ta.do(http.MethodPost, "/1c/vehicles/nope/check", nil, onecAuth()...), 404, "vehicle_not_found")
	a := ta.do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil, onecAuth()...)
	wantStatus(t, a, 200, "")
	c := a.data()["vin_check"].(map[string]any)
	if c["status"] != "mismatch" || c["vin_found"] != vinLexus || c["vin_expected"] != vinVW || c["provider"] != "okpock" {
		t.Fatalf("on-demand check: %v", c)
	}
	if n := ta.count(t, `SELECT count(*) FROM vin_checks`); n != 0 {
		t.Fatalf("an on-demand check stored %d rows", n)
	}
}

func TestVINCheck_VAGCallbackNeedsItsSecret(t *testing.T) {
	ta := newTestApp(t, "", "FL_VAGVIN_CALLBACK_SECRET", "callback-secret-1")
	body := `{"id":"q-42","vin":"WVWZZZ31ZLE147331","status":"done","report_url":"/r/42.html"}`
	post := func(secret, ct, b string) answer {
		h := []string{"Content-Type", ct}
		if secret != "" {
			h = append(h, "X-Callback-Secret", secret)
		}
		return ta.do(http.MethodPost, "/providers/vagvin/callback", strings.NewReader(b), h...)
	}
	wantStatus(t, post("", "application/json", body), 401, "invalid_secret")
	wantStatus(t, post("callback-secret-2", "application/json", body), 401, "invalid_secret")
	if n := ta.count(t, `SELECT count(*) FROM vagvin_results`); n != 0 {
		t.Fatalf("%d results stored from refused callbacks", n)
	}
	wantStatus(t, post("callback-secret-1", "application/json", body), 200, "")
	wantStatus(t, post("callback-secret-1", "application/x-www-form-urlencoded", "id=q-43&vin=WVWZZZ31ZLE147331&status=done"), 200, "")
	wantStatus(t, post("callback-secret-1", "application/json", "not json, not a form"), 400, "")
	if n := ta.count(t, `SELECT count(*) FROM vagvin_results WHERE vin = 'WVWZZZ31ZLE147331'`); n != 2 {
		t.Fatalf("%d results stored", n)
	}
	// Without a configured secret the route refuses everything.
	off := newTestApp(t, "")
	wantStatus(t, off.do(http.MethodPost, "/providers/vagvin/callback", strings.NewReader(body), "X-Callback-Secret", ""), 404, "not_configured")
}

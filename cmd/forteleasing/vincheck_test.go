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

	dto "github.com/prometheus/client_model/go"

	"github.com/forteleasing/inspections/internal/database/dbtest"
	"github.com/forteleasing/inspections/vehicles/provider"
)

const (
	vinLexus = "JTHBG262282011458" // Okpock's /info example
	vinVW    = "WVWZZZ31ZLE147331" // Okpock's /report example
)

// fakeOkpock plays Okpock's /info and /preview with the document's payloads: a plate it knows answers its
// VIN, any other the document's 404. status, when set, is answered instead; holdCalls makes calls hang
// until release or until the caller gives up.
type fakeOkpock struct {
	*httptest.Server
	vins     map[string]string
	status   atomic.Int32
	failures atomic.Int32 // this many calls more are answered 503
	calls    atomic.Int32
	inFlight atomic.Int32
	given    atomic.Int32 // calls the caller abandoned while they hung
	mu       sync.Mutex
	hold     chan struct{}
}

func newFakeOkpock(t *testing.T, vins map[string]string) *fakeOkpock {
	f := &fakeOkpock{vins: vins}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		var q struct{ Plate string }
		_ = json.NewDecoder(r.Body).Decode(&q) // read whole, so the server notices a caller that hangs up
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		hold := f.hold
		f.mu.Unlock()
		if hold != nil {
			f.inFlight.Add(1)
			select {
			case <-hold:
				f.inFlight.Add(-1)
			case <-r.Context().Done():
				f.inFlight.Add(-1)
				f.given.Add(1)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		s := f.status.Load()
		if f.failures.Add(-1) >= 0 {
			s = 503
		}
		if s != 0 {
			w.WriteHeader(int(s))
			fmt.Fprintf(w, `{"system":"OKPOCK","status":%d,"message":"service_unavailable","devMessage":"Service temporarily unavailable"}`, s)
			return
		}
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

// fakeOdometer plays the odometer registry: the client-credentials token exchange, then POST
// registrations answered with the document's payload (is_breaking true), value and VIN as sent.
type fakeOdometer struct {
	*httptest.Server
	mu   sync.Mutex
	sent []map[string]any
}

func newFakeOdometer(t *testing.T) *fakeOdometer {
	f := &fakeOdometer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_ = r.ParseForm()
			id, secret, _ := r.BasicAuth()
			if r.PostForm.Get("grant_type") != "client_credentials" || id != "fl-client" || secret != "odo-secret" {
				w.WriteHeader(401)
				io.WriteString(w, `{"error": "invalid_client"}`)
				return
			}
			io.WriteString(w, `{"access_token": "odo-token", "token_type": "Bearer", "expires_in": 3600}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer odo-token" || r.Method != http.MethodPost || r.URL.Path != "/v2/vehicles/odometer-registrations" {
			w.WriteHeader(401)
			return
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		f.sent = append(f.sent, in)
		f.mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "created_at": "2023-03-15T08:12:28Z", "is_breaking": true, "value": %v, "vin": %q}`, in["value"], in["vin"])
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOdometer) registrations() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.sent...)
}

func odometerEnv(f *fakeOdometer) []string {
	return []string{"FL_ODOMETER_URL", f.URL, "FL_ODOMETER_TOKEN_URL", f.URL + "/oauth/token",
		"FL_ODOMETER_CLIENT_ID", "fl-client", "FL_ODOMETER_CLIENT_SECRET", "odo-secret"}
}

// vinTask adds a vehicle with the given plate and 1C VIN to the demo company, with a task ref.
func vinTask(t *testing.T, ta *testApp, plate, vin, ref string) {
	t.Helper()
	guid := "veh-" + plate
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": demoBIN,
		"vehicle_type_code": carType, "vin_code": vin, "plate_number": plate}}, onecAuth()...), 200, "")
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": ref,
		"vehicle_guid": guid, "date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}},
		onecAuth()...), 200, "")
}

// vinVehicles adds a vehicle and a task for each plate (→ 1C VIN); it returns the tasks' ref_keys by plate.
func vinVehicles(t *testing.T, ta *testApp, plates map[string]string) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for plate, vin := range plates {
		refs[plate] = "task-" + strings.ToLower(plate) // stored and answered lower-case (CONTRACT §8)
		vinTask(t, ta, plate, vin, refs[plate])
	}
	return refs
}

// vinChecks waits until every ref has a vin_check in the 1C feed whose status is not pending, and returns them.
func (ta *testApp) vinChecks(t *testing.T, refs ...string) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := ta.feedChecks(t)
		done := true
		for _, r := range refs {
			if c := got[r]; c == nil || c["status"] == "pending" {
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

// feedChecks returns the vin_check of every report in the 1C feed that has one.
func (ta *testApp) feedChecks(t *testing.T) map[string]map[string]any {
	t.Helper()
	items, _ := ta.readFeed(t, "", "0", 1000, nil)
	got := map[string]map[string]any{}
	for _, it := range items {
		if c, ok := it.raw["vin_check"].(map[string]any); ok {
			got[it.RefKey] = c
		}
	}
	return got
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// attempts is how many tries the check of a report's upload has had.
func (ta *testApp) attempts(t *testing.T, ref string) int {
	return ta.count(t, `SELECT coalesce(sum(c.attempts), 0) FROM vin_checks c JOIN reports r ON r.id = c.report_id WHERE r.ref_key = $1`, ref)
}

// providerCalls sums the provider-call counter of /metrics for one provider and outcome.
func (ta *testApp) providerCalls(t *testing.T, name, outcome string) float64 {
	t.Helper()
	families, err := ta.app.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != "forteleasing_provider_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "provider") == name && label(m, "outcome") == outcome {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
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
			if facts, _ := match["facts"].(map[string]any); facts["mark"] != "LEXUS" || facts["model"] != "IS300" || facts["year"] != 2007.0 {
				t.Errorf("match facts: %v", match["facts"])
			}
			if _, err := time.Parse(time.RFC3339, fmt.Sprint(match["checked_at"])); err != nil {
				t.Errorf("match checked_at %v: %v", match["checked_at"], err)
			}
			if match["odometer"] != nil {
				t.Errorf("odometer %v without an odometer registry", match["odometer"])
			}
			if mismatch["status"] != "mismatch" || mismatch["vin_found"] != vinVW || mismatch["vin_expected"] != vinLexus {
				t.Errorf("mismatch: %v", mismatch)
			}
			if notFound["status"] != "not_found" || notFound["provider"] != "okpock" || notFound["vin_found"] != "" ||
				notFound["vin_expected"] != vinVW || notFound["checked_at"] == nil {
				t.Errorf("not found: %v", notFound)
			}
			// The provider calls are on /metrics, by provider and outcome.
			if ok, nf := ta.providerCalls(t, "okpock", "ok"), ta.providerCalls(t, "okpock", "not_found"); ok < 2 || nf < 1 {
				t.Errorf("okpock calls on /metrics: %v ok, %v not_found", ok, nf)
			}
		})
	}
}

func TestVINCheck_UnconfiguredProvidersSayNotConfigured(t *testing.T) {
	ta := newTestApp(t, "")
	refs := vinVehicles(t, ta, map[string]string{"444DDD02": vinLexus})
	tok := ta.login(demoBIN, director("vin-nc"))
	wantStatus(t, ta.upload(tok.str("access_token"), meta(refs["444DDD02"]), makeMP4(2048), false), 201, "")
	c := ta.vinChecks(t, refs["444DDD02"])[refs["444DDD02"]]
	if c["status"] != "not_configured" || c["provider"] != "" || c["vin_found"] != "" || c["odometer"] != nil {
		t.Fatalf("vin_check %v", c)
	}
}

func TestVINCheck_FeedShowsNullBeforeAnyUpload(t *testing.T) {
	ta := newTestApp(t, "")
	refs := vinVehicles(t, ta, map[string]string{"454DDD02": vinLexus})
	items, _ := ta.readFeed(t, "", "0", 1000, nil)
	for _, it := range items {
		if it.RefKey == refs["454DDD02"] {
			if v, ok := it.raw["vin_check"]; !ok || v != nil {
				t.Fatalf("vin_check of a report without an upload: %v (present %v)", v, ok)
			}
			return
		}
	}
	t.Fatal("the task is not in the feed")
}

func TestVINCheck_OdometerIsRegisteredOnceWithTheReportAsTicket(t *testing.T) {
	eachVINDialect(t, func(t *testing.T, url string) {
		f := newFakeOkpock(t, map[string]string{"121AAA02": vinLexus})
		odo := newFakeOdometer(t)
		f.failures.Store(2) // the first two tries find Okpock down: the check is retried
		quick := deps{
			Providers: provider.Options{MaxTries: 1},
			VINRetry:  func(int) time.Duration { return 100 * time.Millisecond },
		}
		ta := newTestAppWith(t, url, quick, append(okpockEnv(f), odometerEnv(odo)...)...)
		ref := "0b0e4a4e-5d37-4a51-9c1f-6f1d3c2b9a10" // 1C's ref_keys are GUIDs; the registry wants a UUID ticket
		vinTask(t, ta, "121AAA02", vinLexus, ref)
		tok := ta.login(demoBIN, director("vin-odo")).str("access_token")
		wantStatus(t, ta.upload(tok, meta(ref), makeMP4(2048), false), 201, "")

		c := ta.vinChecks(t, ref)[ref]
		if c["status"] != "match" {
			t.Fatalf("vin_check %v", c)
		}
		odometer, _ := c["odometer"].(map[string]any)
		if odometer["is_breaking"] != true || odometer["value"] != 120345.0 || odometer["id"] != "497f6eca-6276-4993-bfeb-53cbbbba6f08" {
			t.Errorf("odometer %v", c["odometer"])
		}
		sent := odo.registrations()
		if n := ta.attempts(t, ref); n != 3 {
			t.Fatalf("finished after %d tries, want 3", n)
		}
		if len(sent) != 1 {
			t.Fatalf("%d registrations over 3 tries; a retry must not register the reading again", len(sent))
		}
		if sent[0]["ticket_id"] != ref || sent[0]["vin"] != vinLexus || sent[0]["value"] != 120345.0 {
			t.Errorf("registration sent %v", sent[0])
		}
	})
}

// eachVINDialect runs fn on a fresh SQLite file and, when configured, a fresh PostgreSQL schema.
func eachVINDialect(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite://"+t.TempDir()+"/vin.db") })
	t.Run("postgres", func(t *testing.T) { fn(t, dbtest.PostgresURL(t)) })
}

func TestVINCheck_PendingJobsSurviveARestartThenComplete(t *testing.T) {
	eachVINDialect(t, func(t *testing.T, url string) {
		f := newFakeOkpock(t, map[string]string{"555EEE02": vinLexus})
		f.status.Store(503) // Okpock is down
		quick := deps{VINRetry: func(int) time.Duration { return 300 * time.Millisecond }}
		first := newTestAppWith(t, url, quick, okpockEnv(f)...)
		refs := vinVehicles(t, first, map[string]string{"555EEE02": vinLexus})
		ref := refs["555EEE02"]
		tok := first.login(demoBIN, director("vin-restart")).str("access_token")
		wantStatus(t, first.upload(tok, meta(ref), makeMP4(2048), false), 201, "")
		waitFor(t, "a first try", func() bool { return first.attempts(t, ref) >= 1 })
		if s := first.count(t, `SELECT count(*) FROM vin_checks WHERE status = 'pending'`); s != 1 {
			t.Fatalf("%d pending checks while Okpock is down", s)
		}
		first.app.Close() // the service stops with the job waiting for its next try

		f.status.Store(0) // Okpock is back; a new process takes the job over
		second := newTestAppWith(t, url, quick, okpockEnv(f)...)
		c := second.vinChecks(t, ref)[ref]
		if c["status"] != "match" {
			t.Fatalf("after the restart: %v", c)
		}
		if n := second.attempts(t, ref); n < 2 {
			t.Fatalf("finished after %d tries; want a retry", n)
		}
	})
}

func TestVINCheck_RegistryDownForEveryTryEndsUnavailable(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"565EEE02": vinLexus})
	f.status.Store(503)
	ta := newTestAppWith(t, "", deps{VINRetry: func(int) time.Duration { return 10 * time.Millisecond }}, okpockEnv(f)...)
	refs := vinVehicles(t, ta, map[string]string{"565EEE02": vinLexus})
	ref := refs["565EEE02"]
	tok := ta.login(demoBIN, director("vin-down")).str("access_token")
	wantStatus(t, ta.upload(tok, meta(ref), makeMP4(2048), false), 201, "")
	c := ta.vinChecks(t, ref)[ref]
	facts, _ := c["facts"].(map[string]any)
	if c["status"] != "unavailable" || c["provider"] != "okpock" || facts["error"] != "unavailable" || c["checked_at"] == nil {
		t.Fatalf("vin_check %v", c)
	}
	if n := ta.attempts(t, ref); n != 8 {
		t.Fatalf("gave up after %d tries, want 8", n)
	}
}

func TestVINCheck_AHangingProviderNeverHoldsUploadsUp(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"666FFF02": vinLexus, "777GGG02": vinLexus})
	// Okpock's calls time out after 3 s; the breaker reopens quickly so the test need not wait for it.
	d := deps{
		Providers: provider.Options{Timeout: 3 * time.Second, MaxTries: 1, BreakerTimeout: 100 * time.Millisecond},
		VINRetry:  func(int) time.Duration { return 100 * time.Millisecond },
	}
	ta := newTestAppWith(t, "", d, okpockEnv(f)...)
	refs := vinVehicles(t, ta, map[string]string{"666FFF02": vinLexus, "777GGG02": vinLexus})
	first, second := refs["666FFF02"], refs["777GGG02"]
	tok := ta.login(demoBIN, director("vin-hang")).str("access_token")
	f.holdCalls() // every call to Okpock hangs until released or abandoned
	wantStatus(t, ta.upload(tok, meta(first), makeMP4(2048), false), 201, "")
	waitFor(t, "the first check to call Okpock", func() bool { return f.inFlight.Load() > 0 })

	// Okpock is holding the first check's call; an upload answers without waiting for it.
	wantStatus(t, ta.upload(tok, meta(second), makeMP4(2048), false), 201, "")
	if f.given.Load() != 0 {
		t.Fatal("the upload answered only after a hanging Okpock call timed out")
	}
	if s := ta.reportStatus(t, second); s != 2 {
		t.Fatalf("report in status %d while Okpock hangs", s)
	}
	// The hanging call times out, and the check stays pending for another try.
	waitFor(t, "the hanging call to time out", func() bool { return f.given.Load() > 0 && ta.attempts(t, first) >= 1 })
	if c := ta.feedChecks(t)[first]; c["status"] != "pending" {
		t.Fatalf("after a timeout: %v", c)
	}
	f.release()
	for ref, c := range ta.vinChecks(t, first, second) {
		if c["status"] != "match" {
			t.Errorf("%s: %v", ref, c)
		}
	}
	if n := ta.providerCalls(t, "okpock", "unavailable"); n < 1 {
		t.Errorf("%v timed-out Okpock calls on /metrics", n)
	}
}

// The check's job is queued in the upload's transaction: an upload is never recorded without its
// check, and a check is never queued for an upload that did not commit.
func TestVINCheck_TheJobCommitsWithTheUploadOrNotAtAll(t *testing.T) {
	eachVINDialect(t, func(t *testing.T, url string) {
		f := newFakeOkpock(t, map[string]string{"999JJJ02": vinLexus})
		ta := newTestApp(t, url, okpockEnv(f)...)
		refs := vinVehicles(t, ta, map[string]string{"999JJJ02": vinLexus})
		ref := refs["999JJJ02"]
		tok := ta.login(demoBIN, director("vin-tx")).str("access_token")
		exec := func(q string) {
			t.Helper()
			if _, err := ta.app.DB.Exec(q); err != nil {
				t.Fatal(err)
			}
		}

		// River's table is gone: queueing fails inside the upload's transaction, which rolls back whole.
		exec(`ALTER TABLE river_job RENAME TO river_job_away`)
		a := ta.upload(tok, meta(ref), makeMP4(2048), false)
		wantStatus(t, a, 503, "")
		if s := ta.reportStatus(t, ref); s != 1 {
			t.Fatalf("report in status %d after a failed upload", s)
		}
		if n := ta.count(t, `SELECT count(*) FROM uploads`); n != 0 {
			t.Fatalf("%d uploads recorded without their check", n)
		}
		if n := ta.count(t, `SELECT count(*) FROM vin_checks`); n != 0 {
			t.Fatalf("%d checks recorded for an upload that did not commit", n)
		}
		if keys := ta.videos(t); len(keys) != 0 {
			t.Fatalf("videos left behind: %v", keys)
		}

		// Back: the retry commits the upload, its pending check and its job together, and the check runs.
		exec(`ALTER TABLE river_job_away RENAME TO river_job`)
		wantStatus(t, ta.upload(tok, meta(ref), makeMP4(2048), false), 201, "")
		if c := ta.vinChecks(t, ref)[ref]; c["status"] != "match" || ta.attempts(t, ref) != 1 {
			t.Fatalf("after the upload: %v, %d tries", c, ta.attempts(t, ref))
		}
		if n := ta.count(t, `SELECT count(*) FROM river_job WHERE kind = 'vin_check'`); n != 1 {
			t.Fatalf("%d check jobs for one upload", n)
		}
	})
}

func TestVINCheck_OnDemandCheckFor1C(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"888HHH02": vinLexus})
	ta := newTestApp(t, "", okpockEnv(f)...)
	vinVehicles(t, ta, map[string]string{"888HHH02": vinVW})
	wantStatus(t, ta.do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil), 401, "")
	wantStatus(t, ta.do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil, "Authorization", "Basic b25lYy10ZXN0Ondyb25n"), 401, "")
	if f.calls.Load() != 0 {
		t.Fatal("a refused call reached Okpock")
	}
	wantStatus(t, ta.do(http.MethodPost, "/1c/vehicles/nope/check", nil, onecAuth()...), 404, "vehicle_not_found")
	a := ta.do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil, onecAuth()...)
	wantStatus(t, a, 200, "")
	c := a.data()["vin_check"].(map[string]any)
	if c["status"] != "mismatch" || c["vin_found"] != vinLexus || c["vin_expected"] != vinVW || c["provider"] != "okpock" || c["checked_at"] == nil {
		t.Fatalf("on-demand check: %v", c)
	}
	if facts, _ := c["facts"].(map[string]any); facts["mark"] != "LEXUS" {
		t.Errorf("on-demand facts: %v", c["facts"])
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
	wantStatus(t, post("callback-secret-1x", "application/json", body), 401, "invalid_secret")
	if n := ta.count(t, `SELECT count(*) FROM vagvin_results`); n != 0 {
		t.Fatalf("%d results stored from refused callbacks", n)
	}
	wantStatus(t, post("callback-secret-1", "application/json", body), 200, "")
	wantStatus(t, post("callback-secret-1", "application/x-www-form-urlencoded", "id=q-43&vin=WVWZZZ31ZLE147331&status=done"), 200, "")
	wantStatus(t, post("callback-secret-1", "application/json", "not json, not a form"), 400, "")
	if n := ta.count(t, `SELECT count(*) FROM vagvin_results WHERE vin = 'WVWZZZ31ZLE147331'`); n != 2 {
		t.Fatalf("%d results stored", n)
	}
	if n := ta.count(t, `SELECT count(*) FROM vagvin_results WHERE check_id = 'q-42' AND status = 'done' AND payload LIKE '%/r/42.html%'`); n != 1 {
		t.Fatalf("the result of check q-42 is not stored under its id (%d rows)", n)
	}
	// Without a configured secret the route refuses everything.
	off := newTestApp(t, "")
	wantStatus(t, off.do(http.MethodPost, "/providers/vagvin/callback", strings.NewReader(body), "X-Callback-Secret", ""), 404, "not_configured")
}

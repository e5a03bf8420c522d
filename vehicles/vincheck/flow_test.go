package vincheck_test

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

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/apptest"
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
func vinTask(t *testing.T, ta *apptest.App, plate, vin, ref string) {
	t.Helper()
	guid := "veh-" + plate
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": apptest.DemoBIN,
		"vehicle_type_code": apptest.CarType, "vin_code": vin, "plate_number": plate}}, apptest.OneCAuth()...), 200, "")
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": ref,
		"vehicle_guid": guid, "date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}},
		apptest.OneCAuth()...), 200, "")
}

// vinVehicles adds a vehicle and a task for each plate (→ 1C VIN); it returns the tasks' ref_keys by plate.
func vinVehicles(t *testing.T, ta *apptest.App, plates map[string]string) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for plate, vin := range plates {
		refs[plate] = "task-" + strings.ToLower(plate) // stored and answered lower-case (CONTRACT §8)
		vinTask(t, ta, plate, vin, refs[plate])
	}
	return refs
}

// vinChecks waits until every ref has a vin_check in the 1C feed whose status is not pending, and returns them.
func vinChecks(t *testing.T, ta *apptest.App, refs ...string) map[string]map[string]any {
	t.Helper()
	var got map[string]map[string]any
	apptest.Eventually(t, func() bool {
		got = feedChecks(t, ta)
		for _, r := range refs {
			if c := got[r]; c == nil || c["status"] == "pending" {
				return false
			}
		}
		return true
	}, "no finished vin_check for all of %v", refs)
	return got
}

// feedChecks returns the vin_check of every report in the 1C feed that has one.
func feedChecks(t *testing.T, ta *apptest.App) map[string]map[string]any {
	t.Helper()
	items, _ := apptest.ReadFeed(t, ta, "", "0", 1000, nil)
	got := map[string]map[string]any{}
	for _, it := range items {
		if c, ok := it.Raw["vin_check"].(map[string]any); ok {
			got[it.RefKey] = c
		}
	}
	return got
}

// attempts is how many tries the check of a report's upload has had.
func attempts(t *testing.T, ta *apptest.App, ref string) int {
	return apptest.Count(t, ta, `SELECT coalesce(sum(c.attempts), 0) FROM vin_checks c JOIN reports r ON r.id = c.report_id WHERE r.ref_key = $1`, ref)
}

// providerCalls sums the provider-call counter of /metrics for one provider and outcome.
func providerCalls(t *testing.T, ta *apptest.App, name, outcome string) float64 {
	t.Helper()
	families, err := ta.Metrics.Registry.Gather()
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
			ta := apptest.New(t, url, okpockEnv(f)...)
			refs := vinVehicles(t, ta, map[string]string{"111AAA02": vinLexus, "222BBB02": vinLexus, "333CCC02": vinVW})
			tok := ta.Login(apptest.DemoBIN, apptest.Director("vin")).Str("access_token")
			for _, ref := range refs {
				apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(ref), apptest.MP4(2048), false), 201, "")
			}
			checks := vinChecks(t, ta, refs["111AAA02"], refs["222BBB02"], refs["333CCC02"])
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
			if ok, nf := providerCalls(t, ta, "okpock", "ok"), providerCalls(t, ta, "okpock", "not_found"); ok < 2 || nf < 1 {
				t.Errorf("okpock calls on /metrics: %v ok, %v not_found", ok, nf)
			}
		})
	}
}

func TestVINCheck_UnconfiguredProvidersSayNotConfigured(t *testing.T) {
	ta := apptest.New(t, "")
	refs := vinVehicles(t, ta, map[string]string{"444DDD02": vinLexus})
	tok := ta.Login(apptest.DemoBIN, apptest.Director("vin-nc"))
	apptest.WantStatus(t, ta.Upload(tok.Str("access_token"), apptest.Meta(refs["444DDD02"]), apptest.MP4(2048), false), 201, "")
	c := vinChecks(t, ta, refs["444DDD02"])[refs["444DDD02"]]
	if c["status"] != "not_configured" || c["provider"] != "" || c["vin_found"] != "" || c["odometer"] != nil {
		t.Fatalf("vin_check %v", c)
	}
}

func TestVINCheck_FeedShowsNullBeforeAnyUpload(t *testing.T) {
	ta := apptest.New(t, "")
	refs := vinVehicles(t, ta, map[string]string{"454DDD02": vinLexus})
	items, _ := apptest.ReadFeed(t, ta, "", "0", 1000, nil)
	for _, it := range items {
		if it.RefKey == refs["454DDD02"] {
			if v, ok := it.Raw["vin_check"]; !ok || v != nil {
				t.Fatalf("vin_check of a report without an upload: %v (present %v)", v, ok)
			}
			return
		}
	}
	t.Fatal("the task is not in the feed")
}

func TestVINCheck_OdometerIsRegisteredOnceWithTheReportAsTicket(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, url string) {
		f := newFakeOkpock(t, map[string]string{"121AAA02": vinLexus})
		odo := newFakeOdometer(t)
		f.failures.Store(2) // the first two tries find Okpock down: the check is retried
		quick := app.Deps{
			Providers: provider.Options{MaxTries: 1},
			VINRetry:  func(int) time.Duration { return 100 * time.Millisecond },
		}
		ta := apptest.NewWith(t, url, quick, append(okpockEnv(f), odometerEnv(odo)...)...)
		ref := "0b0e4a4e-5d37-4a51-9c1f-6f1d3c2b9a10" // 1C's ref_keys are GUIDs; the registry wants a UUID ticket
		vinTask(t, ta, "121AAA02", vinLexus, ref)
		tok := ta.Login(apptest.DemoBIN, apptest.Director("vin-odo")).Str("access_token")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(ref), apptest.MP4(2048), false), 201, "")

		c := vinChecks(t, ta, ref)[ref]
		if c["status"] != "match" {
			t.Fatalf("vin_check %v", c)
		}
		odometer, _ := c["odometer"].(map[string]any)
		if odometer["is_breaking"] != true || odometer["value"] != 120345.0 || odometer["id"] != "497f6eca-6276-4993-bfeb-53cbbbba6f08" {
			t.Errorf("odometer %v", c["odometer"])
		}
		sent := odo.registrations()
		if n := attempts(t, ta, ref); n != 3 {
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

func TestVINCheck_PendingJobsSurviveARestartThenComplete(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, url string) {
		f := newFakeOkpock(t, map[string]string{"555EEE02": vinLexus})
		f.status.Store(503) // Okpock is down
		quick := app.Deps{VINRetry: func(int) time.Duration { return 300 * time.Millisecond }}
		first := apptest.NewWith(t, url, quick, okpockEnv(f)...)
		refs := vinVehicles(t, first, map[string]string{"555EEE02": vinLexus})
		ref := refs["555EEE02"]
		tok := first.Login(apptest.DemoBIN, apptest.Director("vin-restart")).Str("access_token")
		apptest.WantStatus(t, first.Upload(tok, apptest.Meta(ref), apptest.MP4(2048), false), 201, "")
		apptest.Eventually(t, func() bool { return attempts(t, first, ref) >= 1 }, "a first try")
		if s := apptest.Count(t, first, `SELECT count(*) FROM vin_checks WHERE status = 'pending'`); s != 1 {
			t.Fatalf("%d pending checks while Okpock is down", s)
		}
		first.Close() // the service stops with the job waiting for its next try

		f.status.Store(0) // Okpock is back; a new process takes the job over
		second := apptest.NewWith(t, url, quick, okpockEnv(f)...)
		c := vinChecks(t, second, ref)[ref]
		if c["status"] != "match" {
			t.Fatalf("after the restart: %v", c)
		}
		if n := attempts(t, second, ref); n < 2 {
			t.Fatalf("finished after %d tries; want a retry", n)
		}
	})
}

func TestVINCheck_RegistryDownForEveryTryEndsUnavailable(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"565EEE02": vinLexus})
	f.status.Store(503)
	ta := apptest.NewWith(t, "", app.Deps{VINRetry: func(int) time.Duration { return 10 * time.Millisecond }}, okpockEnv(f)...)
	refs := vinVehicles(t, ta, map[string]string{"565EEE02": vinLexus})
	ref := refs["565EEE02"]
	tok := ta.Login(apptest.DemoBIN, apptest.Director("vin-down")).Str("access_token")
	apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(ref), apptest.MP4(2048), false), 201, "")
	c := vinChecks(t, ta, ref)[ref]
	facts, _ := c["facts"].(map[string]any)
	if c["status"] != "unavailable" || c["provider"] != "okpock" || facts["error"] != "unavailable" || c["checked_at"] == nil {
		t.Fatalf("vin_check %v", c)
	}
	if n := attempts(t, ta, ref); n != 8 {
		t.Fatalf("gave up after %d tries, want 8", n)
	}
}

func TestVINCheck_AHangingProviderNeverHoldsUploadsUp(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"666FFF02": vinLexus, "777GGG02": vinLexus})
	// Okpock's calls time out after 3 s; the breaker reopens quickly so the test need not wait for it.
	d := app.Deps{
		Providers: provider.Options{Timeout: 3 * time.Second, MaxTries: 1, BreakerTimeout: 100 * time.Millisecond},
		VINRetry:  func(int) time.Duration { return 100 * time.Millisecond },
	}
	ta := apptest.NewWith(t, "", d, okpockEnv(f)...)
	refs := vinVehicles(t, ta, map[string]string{"666FFF02": vinLexus, "777GGG02": vinLexus})
	first, second := refs["666FFF02"], refs["777GGG02"]
	tok := ta.Login(apptest.DemoBIN, apptest.Director("vin-hang")).Str("access_token")
	f.holdCalls() // every call to Okpock hangs until released or abandoned
	apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(first), apptest.MP4(2048), false), 201, "")
	apptest.Eventually(t, func() bool { return f.inFlight.Load() > 0 }, "the first check to call Okpock")

	// Okpock is holding the first check's call; an upload answers without waiting for it.
	apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(second), apptest.MP4(2048), false), 201, "")
	if f.given.Load() != 0 {
		t.Fatal("the upload answered only after a hanging Okpock call timed out")
	}
	if s := reportStatus(t, ta, second); s != 2 {
		t.Fatalf("report in status %d while Okpock hangs", s)
	}
	// The hanging call times out, and the check stays pending for another try.
	apptest.Eventually(t, func() bool { return f.given.Load() > 0 && attempts(t, ta, first) >= 1 }, "the hanging call to time out")
	if c := feedChecks(t, ta)[first]; c["status"] != "pending" {
		t.Fatalf("after a timeout: %v", c)
	}
	f.release()
	for ref, c := range vinChecks(t, ta, first, second) {
		if c["status"] != "match" {
			t.Errorf("%s: %v", ref, c)
		}
	}
	if n := providerCalls(t, ta, "okpock", "unavailable"); n < 1 {
		t.Errorf("%v timed-out Okpock calls on /metrics", n)
	}
}

// The check's job is queued in the upload's transaction: an upload is never recorded without its
// check, and a check is never queued for an upload that did not commit.
func TestVINCheck_TheJobCommitsWithTheUploadOrNotAtAll(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, url string) {
		f := newFakeOkpock(t, map[string]string{"999JJJ02": vinLexus})
		ta := apptest.New(t, url, okpockEnv(f)...)
		refs := vinVehicles(t, ta, map[string]string{"999JJJ02": vinLexus})
		ref := refs["999JJJ02"]
		tok := ta.Login(apptest.DemoBIN, apptest.Director("vin-tx")).Str("access_token")
		exec := func(q string) {
			t.Helper()
			if _, err := ta.DB.Exec(q); err != nil {
				t.Fatal(err)
			}
		}

		// River's table is gone: queueing fails inside the upload's transaction, which rolls back whole.
		exec(`ALTER TABLE river_job RENAME TO river_job_away`)
		a := ta.Upload(tok, apptest.Meta(ref), apptest.MP4(2048), false)
		apptest.WantStatus(t, a, 503, "")
		if s := reportStatus(t, ta, ref); s != 1 {
			t.Fatalf("report in status %d after a failed upload", s)
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM uploads`); n != 0 {
			t.Fatalf("%d uploads recorded without their check", n)
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM vin_checks`); n != 0 {
			t.Fatalf("%d checks recorded for an upload that did not commit", n)
		}
		if keys := ta.Videos(); len(keys) != 0 {
			t.Fatalf("videos left behind: %v", keys)
		}

		// Back: the retry commits the upload, its pending check and its job together, and the check runs.
		exec(`ALTER TABLE river_job_away RENAME TO river_job`)
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(ref), apptest.MP4(2048), false), 201, "")
		if c := vinChecks(t, ta, ref)[ref]; c["status"] != "match" || attempts(t, ta, ref) != 1 {
			t.Fatalf("after the upload: %v, %d tries", c, attempts(t, ta, ref))
		}
		if n := apptest.Count(t, ta, `SELECT count(*) FROM river_job WHERE kind = 'vin_check'`); n != 1 {
			t.Fatalf("%d check jobs for one upload", n)
		}
	})
}

func TestVINCheck_OnDemandCheckFor1C(t *testing.T) {
	f := newFakeOkpock(t, map[string]string{"888HHH02": vinLexus})
	ta := apptest.New(t, "", okpockEnv(f)...)
	vinVehicles(t, ta, map[string]string{"888HHH02": vinVW})
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil), 401, "")
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil, "Authorization", "Basic b25lYy10ZXN0Ondyb25n"), 401, "")
	if f.calls.Load() != 0 {
		t.Fatal("a refused call reached Okpock")
	}
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/1c/vehicles/nope/check", nil, apptest.OneCAuth()...), 404, "vehicle_not_found")
	a := ta.Do(http.MethodPost, "/1c/vehicles/veh-888HHH02/check", nil, apptest.OneCAuth()...)
	apptest.WantStatus(t, a, 200, "")
	c := a.Data()["vin_check"].(map[string]any)
	if c["status"] != "mismatch" || c["vin_found"] != vinLexus || c["vin_expected"] != vinVW || c["provider"] != "okpock" || c["checked_at"] == nil {
		t.Fatalf("on-demand check: %v", c)
	}
	if facts, _ := c["facts"].(map[string]any); facts["mark"] != "LEXUS" {
		t.Errorf("on-demand facts: %v", c["facts"])
	}
	if n := apptest.Count(t, ta, `SELECT count(*) FROM vin_checks`); n != 0 {
		t.Fatalf("an on-demand check stored %d rows", n)
	}
}

func TestVINCheck_VAGCallbackNeedsItsSecret(t *testing.T) {
	ta := apptest.New(t, "", "FL_VAGVIN_CALLBACK_SECRET", "callback-secret-1")
	body := `{"id":"q-42","vin":"WVWZZZ31ZLE147331","status":"done","report_url":"/r/42.html"}`
	post := func(secret, ct, b string) apptest.Answer {
		h := []string{"Content-Type", ct}
		if secret != "" {
			h = append(h, "X-Callback-Secret", secret)
		}
		return ta.Do(http.MethodPost, "/providers/vagvin/callback", strings.NewReader(b), h...)
	}
	apptest.WantStatus(t, post("", "application/json", body), 401, "invalid_secret")
	apptest.WantStatus(t, post("callback-secret-2", "application/json", body), 401, "invalid_secret")
	apptest.WantStatus(t, post("callback-secret-1x", "application/json", body), 401, "invalid_secret")
	if n := apptest.Count(t, ta, `SELECT count(*) FROM vagvin_results`); n != 0 {
		t.Fatalf("%d results stored from refused callbacks", n)
	}
	apptest.WantStatus(t, post("callback-secret-1", "application/json", body), 200, "")
	apptest.WantStatus(t, post("callback-secret-1", "application/x-www-form-urlencoded", "id=q-43&vin=WVWZZZ31ZLE147331&status=done"), 200, "")
	apptest.WantStatus(t, post("callback-secret-1", "application/json", "not json, not a form"), 400, "")
	if n := apptest.Count(t, ta, `SELECT count(*) FROM vagvin_results WHERE vin = 'WVWZZZ31ZLE147331'`); n != 2 {
		t.Fatalf("%d results stored", n)
	}
	if n := apptest.Count(t, ta, `SELECT count(*) FROM vagvin_results WHERE check_id = 'q-42' AND status = 'done' AND payload LIKE '%/r/42.html%'`); n != 1 {
		t.Fatalf("the result of check q-42 is not stored under its id (%d rows)", n)
	}
	// Without a configured secret the route refuses everything.
	off := apptest.New(t, "")
	apptest.WantStatus(t, off.Do(http.MethodPost, "/providers/vagvin/callback", strings.NewReader(body), "X-Callback-Secret", ""), 404, "not_configured")
}

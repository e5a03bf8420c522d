package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database/dbtest"
	"github.com/forteleasing/inspections/internal/deptest"
	"github.com/forteleasing/inspections/media"
)

// outcome is what one request of the traffic got.
type outcome struct {
	kind, ref string
	Code      int
	errCode   string
}

// progress counts the outcomes of running traffic by kind and status ("upload 503"), so a test can wait
// for the traffic to reach a phase instead of sleeping.
type progress struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *progress) add(o outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int{}
	}
	p.n[fmt.Sprintf("%s %d", o.kind, o.Code)]++
}

// of is how many outcomes of the given keys there were so far.
func (p *progress) of(keys ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	sum := 0
	for _, k := range keys {
		sum += p.n[k]
	}
	return sum
}

// traffic runs two uploaders (one task each, in order, until the tasks run out) and two list readers
// until stop is closed, counting what they get in seen as they go.
func traffic(ta *apptest.App, token string, tasks []string, stop <-chan struct{}, seen *progress) []outcome {
	var (
		mu   sync.Mutex
		next int
		out  []outcome
		wg   sync.WaitGroup
	)
	take := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next == len(tasks) {
			return "", false
		}
		next++
		return tasks[next-1], true
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(uploader bool) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				var o outcome
				if uploader {
					ref, ok := take()
					if !ok {
						return
					}
					a := ta.Upload(token, apptest.Meta(ref), apptest.MP4(256<<10), false, "Idempotency-Key", "k-"+ref)
					o = outcome{kind: "upload", ref: ref, Code: a.Code, errCode: errCodeOf(a)}
				} else {
					a := ta.Get("/reports/general/filter", token)
					o = outcome{kind: "list", Code: a.Code, errCode: errCodeOf(a)}
				}
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
				seen.add(o)
			}
		}(w < 2)
	}
	wg.Wait()
	return out
}

func countKind(outcomes []outcome, kind string) int {
	n := 0
	for _, o := range outcomes {
		if o.kind == kind {
			n++
		}
	}
	return n
}

func errCodeOf(a apptest.Answer) string {
	if e, ok := a.Data()["error"].(string); ok {
		return e
	}
	return ""
}

// newTasks creates n status-1 reports for the demo company's vehicle through the 1C API.
func newTasks(t *testing.T, ta *apptest.App, prefix string, n int) []string {
	t.Helper()
	var items []any
	var refs []string
	for i := 0; i < n; i++ {
		ref := fmt.Sprintf("%s-%03d", prefix, i)
		refs = append(refs, ref)
		items = append(items, map[string]any{"ref_key": ref, "report_number": ref, "vehicle_guid": apptest.BINVehicle,
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1})
	}
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", items, apptest.OneCAuth()...), 200, "")
	return refs
}

// checkConsistent asserts what a fault must never leave behind: a report whose status disagrees with
// its stored uploads, an upload row without its object, or a 201 that was not kept.
func checkConsistent(t *testing.T, ta *apptest.App, store media.Store, outcomes []outcome) {
	t.Helper()
	// The demo data has reports in status 2 without a video (1C set them); only the test's tasks count.
	if n := apptest.Count(t, ta, `SELECT count(*) FROM reports r WHERE r.status_code = 2 AND r.report_number = r.ref_key
		AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.report_id = r.id)`); n != 0 {
		t.Errorf("%d reports in status 2 without an upload", n)
	}
	if n := apptest.Count(t, ta, `SELECT count(*) FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.status_code = 1`); n != 0 {
		t.Errorf("%d uploads whose report is still waiting for one", n)
	}
	var keys []string
	if err := ta.DB.Select(&keys, `SELECT object_key FROM uploads`); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := store.Stat(context.Background(), k); err != nil {
			t.Errorf("upload row without its object %s: %v", k, err)
		}
	}
	for _, o := range outcomes {
		if o.kind == "upload" && o.Code == 201 && reportStatus(t, ta, o.ref) != 2 {
			t.Errorf("upload of %s answered 201 but the report is in status %d", o.ref, reportStatus(t, ta, o.ref))
		}
	}
}

// tally counts outcomes by kind and status, and fails on any answer that is neither a success nor a
// clear "unavailable" (503) envelope.
func tally(t *testing.T, outcomes []outcome) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, o := range outcomes {
		n[fmt.Sprintf("%s %d", o.kind, o.Code)]++
		ok := o.Code == 200 || o.Code == 201 || (o.Code == 503 && o.errCode == "unavailable")
		if !ok {
			t.Errorf("%s %s answered %d %q during the fault", o.kind, o.ref, o.Code, o.errCode)
		}
	}
	t.Logf("outcomes: %v", n)
	return n
}

func TestFaults_PostgreSQLRestartDuringTraffic(t *testing.T) {
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	direct := apptest.New(t, u.String()) // migrates and loads the demo; also a healthy path for the checks
	p := deptest.StartProxy(t, u.Host, 1<<40)
	u.Host = p.Addr()
	ta := apptest.New(t, u.String())
	tasks := newTasks(t, ta, "pgfault", 300)
	token := ta.Login(apptest.DemoBIN, apptest.Director("pg-fault")).Str("access_token")

	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	defer halt() // a failed wait stops the traffic too
	done := make(chan []outcome)
	var seen progress
	go func() { done <- traffic(ta, token, tasks, stop, &seen) }()
	apptest.Eventually(t, func() bool { return seen.of("upload 201") >= 2 && seen.of("list 200") >= 2 }, "traffic flowing before the fault")
	p.Cut() // every connection to PostgreSQL breaks, new ones are refused
	apptest.Eventually(t, func() bool { return seen.of("list 503", "upload 503") >= 2 }, "requests noticing the database being gone")
	p.Reopen(t) // PostgreSQL is back
	back := seen.of("upload 201")
	apptest.Eventually(t, func() bool { return seen.of("upload 201") >= back+2 }, "uploads succeeding again after PostgreSQL came back")
	halt()
	outcomes := <-done

	n := tally(t, outcomes)
	if n["list 503"]+n["upload 503"] == 0 {
		t.Error("no request noticed the database being gone")
	}
	// After the restart the service works again without being restarted itself.
	if a := ta.Get("/reports/general/filter", token); a.Code != 200 {
		t.Fatalf("after PostgreSQL came back: %d %s", a.Code, a.Raw)
	}
	// Every refused upload, retried with its key, is stored exactly once, including those whose commit
	// reached PostgreSQL just before the connection broke.
	for _, o := range outcomes {
		if o.kind == "upload" && o.Code == 503 {
			apptest.WantStatus(t, ta.Upload(token, apptest.Meta(o.ref), apptest.MP4(256<<10), false, "Idempotency-Key", "k-"+o.ref), 201, "")
		}
	}
	checkConsistent(t, direct, ta.Media, outcomes)
	if n := apptest.Count(t, ta, `SELECT count(*) FROM reports WHERE report_number = ref_key AND status_code = 2`); n != countKind(outcomes, "upload") {
		t.Errorf("%d tasks submitted, %d uploads tried", n, countKind(outcomes, "upload"))
	}
	if n := apptest.Count(t, ta, `SELECT count(*) FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.report_number = r.ref_key`); n != countKind(outcomes, "upload") {
		t.Errorf("%d upload rows for %d uploads", n, countKind(outcomes, "upload"))
	}
}

func TestFaults_MinIOStoppedAndStartedDuringUploads(t *testing.T) {
	raw := apptest.BucketURL(t)
	healthy := apptest.New(t, "", "FL_MEDIA_URL", raw) // creates the bucket; reads the store without the proxy
	u, _ := url.Parse(raw)
	p := deptest.StartProxy(t, u.Host, 1<<40)
	u.Host = p.Addr()
	ta := apptest.New(t, "", "FL_MEDIA_URL", u.String())
	tasks := newTasks(t, ta, "s3fault", 300)
	token := ta.Login(apptest.DemoBIN, apptest.Director("s3-fault")).Str("access_token")

	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	defer halt() // a failed wait stops the traffic too
	done := make(chan []outcome)
	var seen progress
	go func() { done <- traffic(ta, token, tasks, stop, &seen) }()
	apptest.Eventually(t, func() bool { return seen.of("upload 201") >= 2 }, "uploads flowing before the fault")
	p.Cut()
	apptest.Eventually(t, func() bool { return seen.of("upload 503") >= 2 }, "uploads noticing MinIO being gone")
	p.Reopen(t)
	back := seen.of("upload 201")
	apptest.Eventually(t, func() bool { return seen.of("upload 201") >= back+2 }, "uploads succeeding again after MinIO came back")
	halt()
	outcomes := <-done

	n := tally(t, outcomes)
	if n["upload 503"] == 0 {
		t.Error("no upload noticed MinIO being gone")
	}
	if n["upload 201"] == 0 {
		t.Error("no upload succeeded around the outage")
	}
	// Retrying the refused uploads after MinIO is back stores each once.
	for _, o := range outcomes {
		if o.kind == "upload" && o.Code == 503 {
			apptest.WantStatus(t, ta.Upload(token, apptest.Meta(o.ref), apptest.MP4(64<<10), false, "Idempotency-Key", "k-"+o.ref), 201, "")
		}
	}
	checkConsistent(t, ta, healthy.Media, outcomes)
	// Every refused upload was retried once it was back, so every task has its video now.
	if n := apptest.Count(t, ta, `SELECT count(*) FROM reports WHERE report_number = ref_key AND status_code = 2`); n != countKind(outcomes, "upload") {
		t.Errorf("%d tasks submitted, %d uploads tried", n, countKind(outcomes, "upload"))
	}
}

func TestReadiness_RedWhilePostgreSQLIsDownGreenAfter(t *testing.T) {
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := deptest.StartProxy(t, u.Host, 1<<40)
	u.Host = p.Addr()
	ta := apptest.New(t, u.String())
	ready := func() (int, string) {
		resp, err := ta.HTTP.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("ready: %d %s", code, body)
	}
	p.Cut()
	if code, body := ready(); code != 503 || !strings.Contains(body, `"database"`) || strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("with PostgreSQL down: %d %s", code, body)
	}
	p.Reopen(t)
	if code, body := ready(); code != 200 {
		t.Fatalf("after PostgreSQL came back: %d %s", code, body)
	}
}

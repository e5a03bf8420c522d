package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/database/dbtest"
	"github.com/forteleasing/inspections/media"
)

// reopen lets the proxy accept again on its old address: the peer is back.
func (p *proxy) reopen(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.ln.Addr().String())
	if err != nil {
		t.Skipf("could not reopen the proxy port: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	t.Cleanup(func() { ln.Close() })
	go p.accept(ln)
}

// outcome is what one request of the traffic got.
type outcome struct {
	kind, ref string
	code      int
	errCode   string
}

// traffic runs two uploaders (one task each, in order, until the tasks run out) and two list readers
// until stop is closed.
func traffic(ta *testApp, token string, tasks []string, stop <-chan struct{}) []outcome {
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
					a := ta.upload(token, meta(ref), makeMP4(256<<10), false, "Idempotency-Key", "k-"+ref)
					o = outcome{kind: "upload", ref: ref, code: a.code, errCode: errCodeOf(a)}
				} else {
					a := ta.get("/reports/general/filter", token)
					o = outcome{kind: "list", code: a.code, errCode: errCodeOf(a)}
				}
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
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

func errCodeOf(a answer) string {
	if e, ok := a.data()["error"].(string); ok {
		return e
	}
	return ""
}

// newTasks creates n status-1 reports for the demo company's vehicle through the 1C API.
func newTasks(t *testing.T, ta *testApp, prefix string, n int) []string {
	t.Helper()
	var items []any
	var refs []string
	for i := 0; i < n; i++ {
		ref := fmt.Sprintf("%s-%03d", prefix, i)
		refs = append(refs, ref)
		items = append(items, map[string]any{"ref_key": ref, "report_number": ref, "vehicle_guid": binVehicle,
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1})
	}
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", items, onecAuth()...), 200, "")
	return refs
}

// checkConsistent asserts what a fault must never leave behind: a report whose status disagrees with
// its stored uploads, an upload row without its object, or a 201 that was not kept.
func checkConsistent(t *testing.T, ta *testApp, store media.Store, outcomes []outcome) {
	t.Helper()
	// The demo data has reports in status 2 without a video (1C set them); only the test's tasks count.
	if n := ta.count(t, `SELECT count(*) FROM reports r WHERE r.status_code = 2 AND r.report_number = r.ref_key
		AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.report_id = r.id)`); n != 0 {
		t.Errorf("%d reports in status 2 without an upload", n)
	}
	if n := ta.count(t, `SELECT count(*) FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.status_code = 1`); n != 0 {
		t.Errorf("%d uploads whose report is still waiting for one", n)
	}
	var keys []string
	if err := ta.app.DB.Select(&keys, `SELECT object_key FROM uploads`); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := store.Stat(context.Background(), k); err != nil {
			t.Errorf("upload row without its object %s: %v", k, err)
		}
	}
	for _, o := range outcomes {
		if o.kind == "upload" && o.code == 201 && ta.reportStatus(t, o.ref) != 2 {
			t.Errorf("upload of %s answered 201 but the report is in status %d", o.ref, ta.reportStatus(t, o.ref))
		}
	}
}

// tally counts outcomes by kind and status, and fails on any answer that is neither a success nor a
// clear "unavailable" (503) envelope.
func tally(t *testing.T, outcomes []outcome) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, o := range outcomes {
		n[fmt.Sprintf("%s %d", o.kind, o.code)]++
		ok := o.code == 200 || o.code == 201 || (o.code == 503 && o.errCode == "unavailable")
		if !ok {
			t.Errorf("%s %s answered %d %q during the fault", o.kind, o.ref, o.code, o.errCode)
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
	direct := newTestApp(t, u.String()) // migrates and loads the demo; also a healthy path for the checks
	p := startProxy(t, u.Host, 1<<40)
	u.Host = p.ln.Addr().String()
	ta := newTestApp(t, u.String())
	tasks := newTasks(t, ta, "pgfault", 300)
	token := ta.login(demoBIN, director("pg-fault")).str("access_token")

	stop := make(chan struct{})
	done := make(chan []outcome)
	go func() { done <- traffic(ta, token, tasks, stop) }()
	time.Sleep(300 * time.Millisecond)
	p.cut() // every connection to PostgreSQL breaks, new ones are refused
	time.Sleep(700 * time.Millisecond)
	p.reopen(t) // PostgreSQL is back
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	outcomes := <-done

	n := tally(t, outcomes)
	if n["list 503"]+n["upload 503"] == 0 {
		t.Error("no request noticed the database being gone")
	}
	// After the restart the service works again without being restarted itself.
	if a := ta.get("/reports/general/filter", token); a.code != 200 {
		t.Fatalf("after PostgreSQL came back: %d %s", a.code, a.raw)
	}
	// Every refused upload, retried with its key, is stored exactly once, including those whose commit
	// reached PostgreSQL just before the connection broke.
	for _, o := range outcomes {
		if o.kind == "upload" && o.code == 503 {
			wantStatus(t, ta.upload(token, meta(o.ref), makeMP4(256<<10), false, "Idempotency-Key", "k-"+o.ref), 201, "")
		}
	}
	checkConsistent(t, direct, ta.app.Media, outcomes)
	if n := ta.count(t, `SELECT count(*) FROM reports WHERE report_number = ref_key AND status_code = 2`); n != countKind(outcomes, "upload") {
		t.Errorf("%d tasks submitted, %d uploads tried", n, countKind(outcomes, "upload"))
	}
	if n := ta.count(t, `SELECT count(*) FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.report_number = r.ref_key`); n != countKind(outcomes, "upload") {
		t.Errorf("%d upload rows for %d uploads", n, countKind(outcomes, "upload"))
	}
}

func TestFaults_MinIOStoppedAndStartedDuringUploads(t *testing.T) {
	raw := testBucketURL(t)
	healthy := newTestApp(t, "", "FL_MEDIA_URL", raw) // creates the bucket; reads the store without the proxy
	u, _ := url.Parse(raw)
	p := startProxy(t, u.Host, 1<<40)
	u.Host = p.ln.Addr().String()
	ta := newTestApp(t, "", "FL_MEDIA_URL", u.String())
	tasks := newTasks(t, ta, "s3fault", 300)
	token := ta.login(demoBIN, director("s3-fault")).str("access_token")

	stop := make(chan struct{})
	done := make(chan []outcome)
	go func() { done <- traffic(ta, token, tasks, stop) }()
	time.Sleep(300 * time.Millisecond)
	p.cut()
	time.Sleep(700 * time.Millisecond)
	p.reopen(t)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
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
		if o.kind == "upload" && o.code == 503 {
			wantStatus(t, ta.upload(token, meta(o.ref), makeMP4(64<<10), false, "Idempotency-Key", "k-"+o.ref), 201, "")
		}
	}
	checkConsistent(t, ta, healthy.app.Media, outcomes)
	// Every refused upload was retried once it was back, so every task has its video now.
	if n := ta.count(t, `SELECT count(*) FROM reports WHERE report_number = ref_key AND status_code = 2`); n != countKind(outcomes, "upload") {
		t.Errorf("%d tasks submitted, %d uploads tried", n, countKind(outcomes, "upload"))
	}
}

func TestReadiness_RedWhilePostgreSQLIsDownGreenAfter(t *testing.T) {
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host, 1<<40)
	u.Host = p.ln.Addr().String()
	ta := newTestApp(t, u.String())
	ready := func() (int, string) {
		resp, err := ta.app.HTTP.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("ready: %d %s", code, body)
	}
	p.cut()
	if code, body := ready(); code != 503 || !strings.Contains(body, `"database"`) || strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("with PostgreSQL down: %d %s", code, body)
	}
	p.reopen(t)
	if code, body := ready(); code != 200 {
		t.Fatalf("after PostgreSQL came back: %d %s", code, body)
	}
}

package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// okpock plays the Okpock registry (its /info and /preview documents): plate P answers VIN V for every
// pair it was given, any other plate the document's 404. It counts /info calls per plate.
type okpock struct {
	*httptest.Server
	mu    sync.Mutex
	vins  map[string]string
	calls map[string]int
}

func newOkpock(t *testing.T) *okpock {
	o := &okpock{vins: map[string]string{demoPlate: demoVIN}, calls: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q struct{ Plate string }
		_ = json.NewDecoder(r.Body).Decode(&q)
		w.Header().Set("Content-Type", "application/json")
		o.mu.Lock()
		vin, ok := o.vins[q.Plate]
		if r.URL.Path == "/info" {
			o.calls[q.Plate]++
		}
		o.mu.Unlock()
		switch {
		case !ok:
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"system":"OKPOCK","status":404,"message":"not_found","devMessage":"Given plate or VIN not found"}`)
		case r.URL.Path == "/info":
			fmt.Fprintf(w, `{"VIN":%q,"plate":%q}`, vin, q.Plate)
		case r.URL.Path == "/preview":
			_, _ = io.WriteString(w, `{"mark":"HYUNDAI","model":"SOLARIS","vehicle_year":2019,"registration_actions_found":true,"road_accidents_found":false}`)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *okpock) knows(plate, vin string) {
	o.mu.Lock()
	o.vins[plate] = vin
	o.mu.Unlock()
}

func (o *okpock) infoCalls(plate string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[plate]
}

// startHAProxy runs Debian's HAProxy on port, round-robin over the instances, health-checking /readyz.
// A request carrying X-Instance: NAME goes to that instance (so a test can say "on this one"), and every
// answer says who served it in X-Served-By.
func startHAProxy(t *testing.T, bin string, port int, ins []*instance) {
	t.Helper()
	var servers, pins strings.Builder
	for _, in := range ins {
		fmt.Fprintf(&pins, "    use-server %s if { req.hdr(x-instance) -m str %s }\n", in.name, in.name)
		fmt.Fprintf(&servers, "    server %s 127.0.0.1:%d check\n", in.name, in.port)
	}
	cfg := fmt.Sprintf(`global
    maxconn 512

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    option forwardfor
    # A request that could not reach an instance (refused: it is stopping or gone) goes to another one.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend api
    bind 127.0.0.1:%d
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fastinter 100ms downinter 250ms fall 2 rise 1
    http-response set-header X-Served-By %%[srv_name]
%s%s`, port, pins.String(), servers.String())
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- haproxy log ---\n%s", tail(b, 3000))
		}
		logf.Close()
	})
	hc := &http.Client{Timeout: time.Second}
	// Ready once every instance has passed a health check: each answers once in a round of three.
	eventually(t, 20*time.Second, "haproxy to route to every instance", func() bool {
		seen := map[string]bool{}
		for range 2 * len(ins) {
			resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
			if err != nil {
				return false
			}
			resp.Body.Close()
			seen[resp.Header.Get("X-Served-By")] = true
		}
		return len(seen) == len(ins)
	})
}

// spooling reports whether the process is reading an upload body: plain uploads (forteleasing-upload-)
// and resumable ones (forteleasing-tus-) are spooled to an unlinked temp file, which shows in /proc/PID/fd.
func spooling(pid int, kind string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.Contains(target, "forteleasing-"+kind+"-") {
			return true
		}
	}
	return false
}

// slowUpload sends an upload whose body stops halfway until resume is closed, so that something can
// happen to the instance reading it. It returns once the first half is sent.
type slowUpload struct {
	resume chan struct{}
	abort  chan struct{} // closing it fails the body, as a client that gives up does
	done   chan struct{}
	ans    answer
	err    error
}

func startSlowUpload(c *client, token, ref, key string, video []byte, headers ...string) *slowUpload {
	body, ct := uploadBody(ref, video)
	raw, _ := io.ReadAll(body)
	return startSlowRequest(c, http.MethodPost, "/reports/upload", raw, append(append(bearer(token), "Content-Type", ct, "Idempotency-Key", key), headers...)...)
}

// startSlowRequest sends raw as the body of method path, all but its last KiB until resume is closed.
func startSlowRequest(c *client, method, path string, raw []byte, headers ...string) *slowUpload {
	pr, pw := io.Pipe()
	s := &slowUpload{resume: make(chan struct{}), abort: make(chan struct{}), done: make(chan struct{})}
	go func() {
		// All but the last KiB: the server reads the first 8 KiB before calling the handler, and the
		// client's transport keeps up to 4 KiB in its write buffer.
		half := len(raw) - 1024
		if _, err := pw.Write(raw[:half]); err != nil {
			return
		}
		select {
		case <-s.resume:
			_, _ = pw.Write(raw[half:])
			pw.Close()
		case <-s.abort:
			pw.CloseWithError(errors.New("the client gave up"))
		case <-s.done:
		}
	}()
	go func() {
		defer close(s.done)
		req, _ := http.NewRequest(method, c.base+path, pr)
		req.ContentLength = int64(len(raw))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := c.http.Do(req)
		if err != nil {
			s.err = err
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		s.ans = answer{code: resp.StatusCode, raw: b, hdr: resp.Header, servedBy: resp.Header.Get("X-Served-By")}
	}()
	return s
}

func TestScaleOut_ThreeInstancesBehindHAProxy(t *testing.T) {
	haproxy := needTool(t, "haproxy")
	video := testVideo(t)
	dbURL, db := testDatabase(t)
	bucketURL := testBucket(t)
	provider := newOkpock(t)
	lbPort := freePort(t)
	lb := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	outbox := t.TempDir()

	env := baseEnv(dbURL, bucketURL, lb, outbox)
	maps.Copy(env, map[string]string{
		// Client addresses come from HAProxy's X-Forwarded-For, trusted from loopback only.
		"FL_PROXY_HEADER": "X-Forwarded-For", "FL_TRUSTED_PROXIES": "127.0.0.1/32",
		"FL_OTP_HOURLY_PER_BIN": "100", "FL_OTP_HOURLY_PER_IP": "500", "FL_REFRESH_REUSE_GRACE": "1s",
		"FL_OKPOCK_URL": provider.URL, "FL_OKPOCK_USER": "fl", "FL_OKPOCK_PASSWORD": "okpock-pass", "FL_OKPOCK_USER_AGENT": "ForteLeasing/1.0",
	})
	var ins []*instance
	byName := map[string]*instance{}
	for _, name := range []string{"a", "b", "c"} {
		in := newInstance(t, name, maps.Clone(env))
		ins = append(ins, in)
		byName[name] = in
	}
	// All three start at once on an empty schema: the migrations run under the advisory lock.
	for _, in := range ins {
		in.start()
	}
	for _, in := range ins {
		in.ready()
	}
	demo := newInstance(t, "demo", maps.Clone(env))
	demo.run("demo")
	if err := demo.wait(time.Minute); err != nil {
		t.Fatalf("forteleasing demo: %v\n%s", err, demo.logTail())
	}
	startHAProxy(t, haproxy, lbPort, ins)
	c := &client{t: t, base: lb, outbox: outbox, http: &http.Client{Timeout: 30 * time.Second}}
	on := func(name string) []string { return []string{"X-Instance", name} }
	servedBy := func(t *testing.T, a answer, want string) {
		t.Helper()
		if a.servedBy != want {
			t.Fatalf("served by %q, want %q (%d %s)", a.servedBy, want, a.code, a.raw)
		}
	}

	// restart starts a stopped instance again and waits until HAProxy's health check has it back.
	restart := func(in *instance) {
		in.start()
		in.ready()
		eventually(t, 20*time.Second, "haproxy to route to "+in.name+" again", func() bool {
			a, err := c.do(http.MethodGet, "/healthz", nil, on(in.name)...)
			return err == nil && a.code == 200 && a.servedBy == in.name
		})
	}

	t.Run("RoundRobin", func(t *testing.T) {
		seen := map[string]int{}
		for range 6 {
			seen[c.must(http.MethodGet, "/healthz", nil).servedBy]++
		}
		if seen["a"] != 2 || seen["b"] != 2 || seen["c"] != 2 {
			t.Fatalf("six requests were served %v, want two by each", seen)
		}
	})

	t.Run("LoginOnOneRefreshOnOthers", func(t *testing.T) {
		c := *c
		c.t = t
		a, otp := c.requestOTP(demoBIN, director("lb-dir-1"), on("a")...)
		servedBy(t, a, "a")
		auth := c.must(http.MethodPost, "/auth", nil, append(basicLogin(demoBIN, "lb-dir-1", otp), on("a")...)...)
		servedBy(t, auth, "a")
		tk := tokensOf(t, auth)
		for _, name := range []string{"a", "b", "c"} {
			a := c.must(http.MethodGet, "/reports/general/filter", nil, append(bearer(tk.access), on(name)...)...)
			servedBy(t, a, name)
			if a.code != 200 {
				t.Fatalf("the access token from a on %s: %d %s", name, a.code, a.raw)
			}
		}
		r1 := c.must(http.MethodPost, "/refresh_token", nil, append(bearer(tk.refresh), on("b")...)...)
		servedBy(t, r1, "b")
		tk1 := tokensOf(t, r1)
		r2 := c.must(http.MethodPost, "/refresh_token", nil, append(bearer(tk1.refresh), on("c")...)...)
		servedBy(t, r2, "c")
		tk2 := tokensOf(t, r2)
		if a := c.must(http.MethodGet, "/employee/list", nil, append(bearer(tk2.access), on("a")...)...); a.code != 200 {
			t.Fatalf("the access token from c's refresh on a: %d %s", a.code, a.raw)
		}
	})

	t.Run("OTPLimitsHoldAcrossInstances", func(t *testing.T) {
		c := *c
		c.t = t
		// The per-device cooldown (60 s) is kept in PostgreSQL: asking b right after a is refused.
		a, otp := c.requestOTP(demoBIN, director("lb-otp-1"), on("a")...)
		if a.code != 200 {
			t.Fatalf("OTP on a: %d %s", a.code, a.raw)
		}
		again := c.json(http.MethodPost, "/biin/"+demoBIN, director("lb-otp-1"), on("b")...)
		servedBy(t, again, "b")
		if again.code != 429 || again.hdr.Get("Retry-After") == "" {
			t.Fatalf("second code for the device on b: %d %s (Retry-After %q)", again.code, again.raw, again.hdr.Get("Retry-After"))
		}
		// Five wrong tries spread over the three instances burn the code for all of them.
		wrong := "0000"
		if otp == wrong {
			wrong = "1111"
		}
		for i, name := range []string{"a", "b", "c", "a", "b"} {
			a := c.must(http.MethodPost, "/auth", nil, append(basicLogin(demoBIN, "lb-otp-1", wrong), on(name)...)...)
			servedBy(t, a, name)
			if a.code != 401 && a.code != 429 {
				t.Fatalf("wrong try %d on %s: %d %s", i+1, name, a.code, a.raw)
			}
		}
		burned := c.must(http.MethodPost, "/auth", nil, append(basicLogin(demoBIN, "lb-otp-1", otp), on("c")...)...)
		servedBy(t, burned, "c")
		if burned.code != 429 {
			t.Fatalf("the right code after five wrong tries elsewhere: %d %s, want 429", burned.code, burned.raw)
		}
	})

	t.Run("RefreshReuseRevokesOnEveryInstance", func(t *testing.T) {
		c := *c
		c.t = t
		tk, _ := c.login(demoBIN, director("lb-reuse-1"), on("a")...)
		r1 := c.must(http.MethodPost, "/refresh_token", nil, append(bearer(tk.refresh), on("b")...)...)
		tk1 := tokensOf(t, r1)
		// A racing retry on another instance within the grace (1 s here) gets the pair b issued; past
		// the grace the reuse is theft: the session ends everywhere.
		eventually(t, 10*time.Second, "the reuse grace to pass", func() bool {
			a := c.must(http.MethodPost, "/refresh_token", nil, append(bearer(tk.refresh), on("c")...)...)
			switch a.code {
			case 200:
				if got := tokensOf(t, a); got.refresh != tk1.refresh {
					t.Fatalf("a retry within the grace on c got another pair than b issued")
				}
				return false
			case 401:
				return true
			}
			t.Fatalf("reuse on c: %d %s", a.code, a.raw)
			return false
		})
		for _, name := range []string{"a", "b", "c"} {
			if a := c.must(http.MethodGet, "/reports/general/filter", nil, append(bearer(tk1.access), on(name)...)...); a.code != 401 {
				t.Errorf("the revoked session's access token on %s: %d %s", name, a.code, a.raw)
			}
		}
		if a := c.must(http.MethodPost, "/refresh_token", nil, append(bearer(tk1.refresh), on("a")...)...); a.code != 401 {
			t.Errorf("the revoked session's newest refresh token on a: %d %s", a.code, a.raw)
		}
	})

	t.Run("DeletedEmployeeRefusedByEveryInstanceAtOnce", func(t *testing.T) {
		c := *c
		c.t = t
		emp, _ := c.login(demoBIN, employee("lb-emp-1", "87015550101", "Арман"), on("c")...)
		dir, _ := c.login(demoBIN, director("lb-dir-2"), on("a")...)
		// Every instance has seen (and may remember) the employee's token.
		for _, name := range []string{"a", "b", "c"} {
			if a := c.must(http.MethodGet, "/reports/general/filter", nil, append(bearer(emp.access), on(name)...)...); a.code != 200 {
				t.Fatalf("employee on %s: %d %s", name, a.code, a.raw)
			}
		}
		list := c.must(http.MethodGet, "/employee/list", nil, append(bearer(dir.access), on("a")...)...)
		var id string
		for _, e := range list.data()["employees"].([]any) {
			if m := e.(map[string]any); m["mobile"] == "87015550101" {
				id = strconv.Itoa(int(m["id"].(float64)))
			}
		}
		if id == "" {
			t.Fatalf("employee not listed: %s", list.raw)
		}
		if a := c.must(http.MethodDelete, "/employee/delete/"+id, nil, append(bearer(dir.access), on("b")...)...); a.code != 200 {
			t.Fatalf("delete on b: %d %s", a.code, a.raw)
		}
		for _, name := range []string{"a", "b", "c"} {
			a := c.must(http.MethodGet, "/reports/general/filter", nil, append(bearer(emp.access), on(name)...)...)
			servedBy(t, a, name)
			if a.code != 401 {
				t.Errorf("the deleted employee on %s right after the delete: %d %s", name, a.code, a.raw)
			}
		}
	})

	t.Run("EachVINCheckRunsOnce", func(t *testing.T) {
		c := *c
		c.t = t
		tk, _ := c.login(demoBIN, director("lb-vin-1"))
		// One vehicle per task, each with its own plate: each instance's provider client caches answers
		// per plate, so only distinct plates show how often each check reached the registry.
		const n = 6
		var vehicles, tasks []any
		var refs []string
		for i := range n {
			guid := fmt.Sprintf("5ca1e000-0000-4000-8000-%012d", i)
			plate, vin := fmt.Sprintf("%03dSO02", 100+i), fmt.Sprintf("XWW2121400SO%05d", i)
			provider.knows(plate, vin)
			vehicles = append(vehicles, map[string]any{"vehicle_guid": guid, "biin": demoBIN, "vehicle_type_code": carType,
				"vin_code": vin, "plate_number": plate, "contract_number": "SO-1", "contract_date_end": "2099-01-01T00:00:00"})
			ref := fmt.Sprintf("lb-vin-%03d", i)
			refs = append(refs, ref)
			tasks = append(tasks, map[string]any{"ref_key": ref, "report_number": ref, "vehicle_guid": guid,
				"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1})
		}
		if a := c.json(http.MethodPut, "/1c/vehicles", vehicles, onec()...); a.code != 200 {
			t.Fatalf("PUT /1c/vehicles: %d %s", a.code, a.raw)
		}
		if a := c.json(http.MethodPut, "/1c/reports", tasks, onec()...); a.code != 200 {
			t.Fatalf("PUT /1c/reports: %d %s", a.code, a.raw)
		}
		served := map[string]int{}
		for _, ref := range refs {
			a, err := c.upload(tk.access, ref, "k-"+ref, video)
			if err != nil || a.code != 201 {
				t.Fatalf("upload %s: %v %d %s", ref, err, a.code, a.raw)
			}
			served[a.servedBy]++
		}
		if len(served) != 3 {
			t.Fatalf("uploads served by %v, want all three instances", served)
		}
		eventually(t, 60*time.Second, "every VIN check to finish", func() bool {
			return count(t, db, `SELECT count(*) FROM vin_checks v JOIN reports r ON r.id = v.report_id
				WHERE r.ref_key LIKE 'lb-vin-%' AND v.checked_at IS NOT NULL`) == n
		})
		if got := count(t, db, `SELECT count(*) FROM vin_checks v JOIN reports r ON r.id = v.report_id
			WHERE r.ref_key LIKE 'lb-vin-%' AND v.status = 'match' AND v.attempts = 1`); got != n {
			t.Errorf("%d of %d checks matched on their first try", got, n)
		}
		// Every instance runs workers and the reconciler; still each check reached the registry once.
		for i := range n {
			if calls := provider.infoCalls(fmt.Sprintf("%03dSO02", 100+i)); calls != 1 {
				t.Errorf("Okpock /info was asked %d times about the plate of task %d", calls, i)
			}
		}
		// River marks a job completed shortly after its work is stored.
		var states []string
		eventually(t, 30*time.Second, "the VIN-check jobs to be completed", func() bool {
			states = nil
			if err := db.Select(&states, `SELECT j.state || ' attempt ' || j.attempt FROM river_job j
				JOIN uploads u ON u.id = (j.args->>'upload_id')::bigint JOIN reports r ON r.id = u.report_id
				WHERE j.kind = 'vin_check' AND r.ref_key LIKE 'lb-vin-%' ORDER BY j.id`); err != nil {
				t.Fatal(err)
			}
			return !slices.ContainsFunc(states, func(s string) bool { return strings.HasPrefix(s, "running") })
		})
		if len(states) != n || slices.ContainsFunc(states, func(s string) bool { return s != "completed attempt 1" }) {
			t.Errorf("VIN-check jobs of the %d uploads: %v, want one each, completed at the first attempt", n, states)
		}
	})

	t.Run("SIGTERMDrainsOneWhileTheOthersServe", func(t *testing.T) {
		c := *c
		c.t = t
		tk, _ := c.login(demoBIN, director("lb-drain-1"))
		refs := c.newTasks("lb-drain", 1)
		b := byName["b"]
		up := startSlowUpload(&c, tk.access, refs[0], "k-drain", video, on("b")...)
		eventually(t, 20*time.Second, "b to be reading the upload", func() bool { return spooling(b.pid(), "upload") })
		b.signal(syscall.SIGTERM)
		// b stops accepting (a request already on its way may still be served by it); every request
		// meanwhile succeeds, and soon all go to a and c.
		others := 0
		eventually(t, 20*time.Second, "requests to stop reaching b", func() bool {
			a := c.must(http.MethodGet, "/reports/general/filter", nil, bearer(tk.access)...)
			if a.code != 200 {
				t.Fatalf("a request while b drains: %d served by %q %s", a.code, a.servedBy, a.raw)
			}
			if a.servedBy == "b" {
				others = 0
			} else {
				others++
			}
			return others >= 12
		})
		select {
		case <-b.exited():
			t.Fatal("b exited with an upload in flight")
		default:
		}
		close(up.resume)
		<-up.done
		if up.err != nil || up.ans.code != 201 {
			t.Fatalf("the upload b was reading when told to stop: %v %d %s", up.err, up.ans.code, up.ans.raw)
		}
		if err := b.wait(45 * time.Second); err != nil {
			t.Fatalf("b after SIGTERM: %v", err)
		}
		if n := count(t, db, `SELECT status_code FROM reports WHERE ref_key = $1`, refs[0]); n != 2 {
			t.Fatalf("the drained upload's report is in status %d", n)
		}
		restart(b)
	})

	t.Run("ResumableUploadContinuedAcrossInstancesOneKilledMidPATCH", func(t *testing.T) {
		c := *c
		c.t = t
		c.http = &http.Client{Timeout: 90 * time.Second} // a lock held by a dead instance lasts its 30 s lease
		tk, _ := c.login(demoBIN, director("lb-tus-1"))
		ref := c.newTasks("lb-tus", 1)[0]
		sum := sha256.Sum256(video)
		meta := map[string]string{"ref_key": ref, "time_sent": "2026-03-03 10:15:00", "lat": "43.238949", "long": "76.889709",
			"filename": "inspection.mp4", "sha256": hex.EncodeToString(sum[:])}
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(meta)) {
			pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(meta[k])))
		}
		tus := append(bearer(tk.access), "Tus-Resumable", "1.0.0")
		chunk := append(slices.Clone(tus), "Content-Type", "application/offset+octet-stream")

		// Created on a, with the first 256 KiB in the same request (creation-with-upload).
		first := 256 << 10
		created := c.must(http.MethodPost, "/reports/uploads", bytes.NewReader(video[:first]), append(slices.Clone(chunk),
			"Upload-Length", strconv.Itoa(len(video)), "Upload-Metadata", strings.Join(pairs, ","), "X-Instance", "a")...)
		servedBy(t, created, "a")
		if created.code != 201 || created.hdr.Get("Upload-Offset") != strconv.Itoa(first) {
			t.Fatalf("create on a: %d %s %v", created.code, created.raw, created.hdr)
		}
		path := strings.TrimPrefix(created.hdr.Get("Location"), lb)
		if !strings.HasPrefix(path, "/reports/uploads/") {
			t.Fatalf("Location %q is not under FL_PUBLIC_URL", created.hdr.Get("Location"))
		}

		// Continued on b, which dies (SIGKILL) while reading the PATCH.
		b := byName["b"]
		patch := startSlowRequest(&c, http.MethodPatch, path, video[first:], append(slices.Clone(chunk), "Upload-Offset", strconv.Itoa(first), "X-Instance", "b")...)
		eventually(t, 20*time.Second, "b to be reading the PATCH", func() bool {
			select {
			case <-patch.done:
				t.Fatalf("the PATCH ended before b read it: %v %d %s", patch.err, patch.ans.code, patch.ans.raw)
			default:
			}
			return spooling(b.pid(), "tus")
		})
		b.kill()
		close(patch.abort)
		<-patch.done
		if patch.err == nil && patch.ans.code/100 == 2 {
			t.Fatalf("the PATCH cut by the crash answered %d", patch.ans.code)
		}
		if s := count(t, db, `SELECT status_code FROM reports WHERE ref_key = $1`, ref); s != 1 {
			t.Fatalf("report in status %d before the upload is complete", s)
		}

		// Finished on c from wherever the upload stands. b died holding the upload's lock, a lease that
		// lasts 30 s after its last renewal, and a request waits at most 20 s for a lock (then 423
		// upload_locked, never a 5xx): like tus clients, retry until the lease has run out.
		var head answer
		eventually(t, 75*time.Second, "c to take over the upload", func() bool {
			head = c.must(http.MethodHead, path, nil, append(slices.Clone(tus), "X-Instance", "c")...)
			if head.code != 200 {
				t.Logf("HEAD on c: %d %q", head.code, head.raw)
				if head.code >= 500 {
					t.Errorf("HEAD on c while b's lease lasts: %d, want 423 upload_locked", head.code)
				}
			}
			return head.code == 200
		})
		servedBy(t, head, "c")
		off, err := strconv.Atoi(head.hdr.Get("Upload-Offset"))
		if err != nil || off < first || off >= len(video) {
			t.Fatalf("HEAD on c: Upload-Offset %q (created with %d of %d)", head.hdr.Get("Upload-Offset"), first, len(video))
		}
		done := c.must(http.MethodPatch, path, bytes.NewReader(video[off:]), append(slices.Clone(chunk), "Upload-Offset", strconv.Itoa(off), "X-Instance", "c")...)
		servedBy(t, done, "c")
		if done.code != 204 || done.hdr.Get("Upload-Offset") != strconv.Itoa(len(video)) {
			t.Fatalf("last PATCH on c: %d %s %v", done.code, done.raw, done.hdr)
		}
		t.Logf("created on a with %d bytes, b died mid-PATCH, c resumed at %d of %d", first, off, len(video))
		var row struct {
			Key  string `db:"object_key"`
			Size int64  `db:"size"`
			SHA  string `db:"sha256"`
		}
		if err := db.Get(&row, `SELECT u.object_key, u.size, u.sha256 FROM uploads u JOIN reports r ON r.id = u.report_id
			WHERE r.ref_key = $1 AND r.status_code = 2`, ref); err != nil {
			t.Fatalf("the committed upload: %v", err)
		}
		if row.Size != int64(len(video)) || row.SHA != hex.EncodeToString(sum[:]) {
			t.Fatalf("stored %d bytes with SHA-256 %s, sent %d with %x", row.Size, row.SHA, len(video), sum)
		}
		u, _ := url.Parse(bucketURL)
		mc, bucket, err := minioClient(u)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := mc.GetObject(context.Background(), bucket, row.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, obj)
		obj.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != row.SHA {
			t.Fatalf("the stored object does not hash to the upload's SHA-256: %v", err)
		}
		restart(b)
	})

	t.Run("UploadsWhileAnInstanceIsKilledAndRestarted", func(t *testing.T) {
		c := *c
		c.t = t
		tk, _ := c.login(demoBIN, director("lb-kill-1"))
		refs := c.newTasks("lb-kill", 24)
		victim := byName["a"]

		type result struct {
			ref      string
			code     int
			attempts int
		}
		var (
			mu      sync.Mutex
			results []result
			next    int
			done    atomic.Int32
			retried atomic.Int32
		)
		// uploadUntilKept retries with the same key, as the app does, until an answer that is not a
		// failure of the deployment (a 502 from the proxy, a 503, a cut connection).
		uploadUntilKept := func(ref string, first func() (answer, error)) result {
			r := result{ref: ref}
			call := first
			for r.attempts < 40 {
				r.attempts++
				a, err := call()
				call = func() (answer, error) { return c.upload(tk.access, ref, "k-"+ref, video) }
				if err == nil && a.code != 502 && a.code != 503 && a.code != 504 {
					r.code = a.code
					return r
				}
				retried.Add(1)
				<-time.After(100 * time.Millisecond) // back off before the retry, as a client would
			}
			return r
		}
		// First, an upload the victim is reading when it dies.
		cut := startSlowUpload(&c, tk.access, refs[0], "k-"+refs[0], video, on("a")...)
		eventually(t, 20*time.Second, "a to be reading an upload", func() bool { return spooling(victim.pid(), "upload") })

		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if next == len(refs)-1 {
						mu.Unlock()
						return
					}
					next++
					ref := refs[next]
					mu.Unlock()
					r := uploadUntilKept(ref, func() (answer, error) { return c.upload(tk.access, ref, "k-"+ref, video) })
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
					done.Add(1)
				}
			}()
		}
		eventually(t, 30*time.Second, "a few uploads", func() bool { return done.Load() >= 4 })
		victim.kill()
		close(cut.abort) // the app notices the cut connection, or gives up on the stalled request
		<-cut.done
		if cut.err == nil && cut.ans.code == 201 {
			t.Fatal("the upload cut by the crash answered 201")
		}
		t.Logf("the upload a was reading when it died: %v %d; retried with its key", cut.err, cut.ans.code)
		r0 := uploadUntilKept(refs[0], func() (answer, error) { return c.upload(tk.access, refs[0], "k-"+refs[0], video) })
		mu.Lock()
		results = append(results, r0)
		mu.Unlock()
		eventually(t, 60*time.Second, "more uploads while a is down", func() bool { return done.Load() >= 12 })
		restart(victim)
		wg.Wait()

		mu.Lock()
		defer mu.Unlock()
		if len(results) != len(refs) {
			t.Fatalf("%d results for %d tasks", len(results), len(refs))
		}
		for _, r := range results {
			if r.code != 201 {
				t.Errorf("upload %s ended %d after %d attempts", r.ref, r.code, r.attempts)
			}
		}
		t.Logf("%d uploads, %d retried attempts", len(results), retried.Load())
		// Every 201 was kept: one upload row per task, the report submitted, the object in the bucket.
		if n := count(t, db, `SELECT count(*) FROM reports r WHERE r.ref_key LIKE 'lb-kill-%' AND r.status_code = 2
			AND (SELECT count(*) FROM uploads u WHERE u.report_id = r.id) = 1`); n != len(refs) {
			t.Errorf("%d of %d tasks have exactly one upload and status 2", n, len(refs))
		}
		var keys []string
		if err := db.Select(&keys, `SELECT u.object_key FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.ref_key LIKE 'lb-kill-%'`); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(bucketURL)
		mc, bucket, err := minioClient(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, err := mc.StatObject(context.Background(), bucket, k, minio.StatObjectOptions{}); err != nil {
				t.Errorf("upload row without its object %s: %v", k, err)
			}
		}
		// The surviving instances answered throughout, and the restarted one serves again.
		if a := c.must(http.MethodGet, "/healthz", nil, on("a")...); a.code != 200 || a.servedBy != "a" {
			t.Errorf("a after its restart: %d %q", a.code, a.servedBy)
		}
	})
}

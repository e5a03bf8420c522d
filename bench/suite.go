package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-smtp"
)

// The statements of one refresh (auth/store.go: refreshWhere, liveSession, rotate), and the feed's list
// statement (onec/store.go: feed) — copied; keep them in step with the stores.
const (
	refreshRowSQL = `SELECT id, session_id, secret_hash, issued_at, expires_at, rotated_at FROM refresh_tokens WHERE id = $1`
	rotateSQL     = `UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1`
	childSQL      = `INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at) VALUES ($1, NULL, $2, $3, $4) RETURNING id`
	feedSQL       = `SELECT r.id, r.ref_key, r.report_number, r.contract_number, r.date_start, r.date_finish, r.status_code,
			r.reject_reason, r.change_seq, r.updated_at, c.biin, v.guid AS vehicle_guid, v.vin_code, v.plate_number
		FROM reports r JOIN companies c ON c.id = r.company_id JOIN vehicles v ON v.id = r.vehicle_id
		WHERE r.change_seq > $1 ORDER BY r.change_seq LIMIT $2`
)

// mailbox is the SMTP server the service sends its OTP e-mails to during the suite: each code goes to the
// client waiting for that recipient, so logins cost a real SMTP exchange and no file scanning.
type mailbox struct {
	mu      sync.Mutex
	waiting map[string]chan string
	srv     *smtp.Server
	addr    string
}

var mailOTP = regexp.MustCompile(`OTP: (\d+)`)

func startMailbox() (*mailbox, error) {
	m := &mailbox{waiting: map[string]chan string{}}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m.addr = ln.Addr().String()
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

func (m *mailbox) close() { _ = m.srv.Close() }

// expect returns the queue of codes sent to rcpt, emptied of codes that arrived for earlier requests
// (a request cut off by the end of a measurement still sends its e-mail); call it before asking.
func (m *mailbox) expect(rcpt string) chan string {
	m.mu.Lock()
	defer m.mu.Unlock()
	rcpt = strings.ToLower(rcpt)
	ch, ok := m.waiting[rcpt]
	if !ok {
		ch = make(chan string, 16)
		m.waiting[rcpt] = ch
	}
	for len(ch) > 0 {
		<-ch
	}
	return ch
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct {
	m  *mailbox
	to []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, strings.ToLower(to))
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	code := mailOTP.FindSubmatch(b)
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.to {
		if ch, ok := s.m.waiting[to]; ok && code != nil {
			select {
			case ch <- string(code[1]):
			default: // nobody is reading this mailbox
			}
		}
	}
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

// loginAs runs OTP request → mailbox → POST /auth for company i with a fresh device and returns the pair.
func (r *rig) loginAs(ctx context.Context, client *http.Client, mb *mailbox, i int, device string) (access, refresh string, err error) {
	ch := mb.expect(fmt.Sprintf("fleet%03d@bench.kz", i))
	if err := post(ctx, client, r.base+"/biin/"+benchBIIN(i), "", map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}, nil); err != nil {
		return "", "", err
	}
	var ans struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	// A late e-mail of an abandoned earlier request may come first: try the codes in the order they arrive.
	for try := 0; ; try++ {
		var otp string
		select {
		case otp = <-ch:
		case <-time.After(10 * time.Second):
			return "", "", errors.New("no OTP e-mail within 10 s")
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(benchBIIN(i)+"-"+device+":"+otp))
		err = post(ctx, client, r.base+"/auth", basic, nil, &ans)
		if err == nil || try == 2 || !strings.Contains(err.Error(), "invalid_otp") {
			break
		}
	}
	if err != nil {
		return "", "", err
	}
	return ans.AccessToken, ans.RefreshToken, nil
}

// post sends a JSON POST and decodes the envelope's data into out (when not nil).
func post(ctx context.Context, client *http.Client, url, auth string, body, out any) error {
	return doJSON(ctx, client, http.MethodPost, url, body, auth, out)
}

// runSuite measures every load target of issue 8 on one seeded service and prints one table.
func runSuite(ctx context.Context, o options) error {
	if o.clients > o.companies {
		return fmt.Errorf("-c %d: the suite logs each client in as its own company; use at most -companies (%d)", o.clients, o.companies)
	}
	mb, err := startMailbox()
	if err != nil {
		return err
	}
	defer mb.close()
	// Logins are measured by the thousand, so the OTP limits are lifted for this service only; everything
	// else (hashing, single use, tries) works as in production. The codes travel over real SMTP.
	r, err := setup(ctx, o, "FL_MAIL_URL=smtp://"+mb.addr, "FL_OTP_HOURLY_PER_BIN=100000000",
		"FL_OTP_HOURLY_PER_IP=100000000", "FL_OTP_DAILY_FAILURES=100000000")
	if err != nil {
		return err
	}
	defer r.close()
	logf("seeding %d companies, %d + %d vehicles, %d reports…", o.companies, o.vehicles, (o.companies-1)*o.otherVehicles, o.totalReports)
	seeded, err := seedFilter(ctx, r)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	logf("seeded in %s", seeded.total().Round(100*time.Millisecond))
	client := newLoadClient(o.clients)
	token, _, err := r.loginAs(ctx, client, mb, 0, "bench-director")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	db, err := benchDB(r.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var companyID, sessionID, userID int64
	if err := db.QueryRowContext(ctx, `SELECT s.company_id, s.id, s.user_id FROM sessions s JOIN companies c ON c.id = s.company_id
		WHERE c.biin = $1 AND s.revoked_at IS NULL ORDER BY s.id DESC LIMIT 1`, benchBIIN(0)).Scan(&companyID, &sessionID, &userID); err != nil {
		return fmt.Errorf("find the bench session: %w", err)
	}
	fixed := func(args ...any) func() []any { return func() []any { return args } }

	fb, fbBase, err := startFiberBaseline(ctx, r.dir)
	if err != nil {
		return err
	}
	defer fb.stop()

	var rows []row
	add := func(name string, s stats) { rows = append(rows, row{name: name, s: s}) }
	profiles := 0
	service := func(name string, do func(context.Context) error) stats {
		logf("driving %s for %s…", name, o.duration)
		if o.pprofDir != "" {
			profiles++
			path := filepath.Join(o.pprofDir, fmt.Sprintf("%d-%s.pprof", profiles, slug(name)))
			r.profile(ctx, o.warmup, o.duration-time.Second, path)
			logf("profiling into %s", path)
		}
		rss := sampleRSS(r.svc.pid())
		s := measure(ctx, o, do)
		hwm, peak := rss.finish()
		rows = append(rows, row{name: name, s: s, hwm: hwm, peak: peak})
		return s
	}
	raw := func(name string, do func(context.Context) error) stats {
		logf("driving %s for %s…", name, o.duration)
		s := measure(ctx, o, do)
		add(name, s)
		return s
	}
	last := func() *row { return &rows[len(rows)-1] }

	logf("driving the bare Fiber baseline…")
	fiber := measure(ctx, o, getter(client, fbBase+"/baseline", token))
	add("baseline: bare Fiber GET /baseline", fiber)

	// Login: each client logs in as the director of a company no other client is using at that moment,
	// with a new device each time (a company's codes go to one mailbox).
	free := make(chan int, o.clients)
	for i := 0; i < o.clients; i++ {
		free <- i
	}
	var loginSeq atomic.Int64
	login := service("service: login (POST /biin + SMTP + POST /auth)", func(ctx context.Context) error {
		i := <-free
		defer func() { free <- i }()
		_, _, err := r.loginAs(ctx, client, mb, i, fmt.Sprintf("dev-%d", loginSeq.Add(1)))
		return err
	})
	last().vsFiber = ratio(login.rate(), fiber.rate())

	// Refresh: each client rotates its own session's chain.
	chains := make(chan string, o.clients)
	for i := 0; i < o.clients; i++ {
		_, rt, err := r.loginAs(ctx, client, mb, i, fmt.Sprintf("refresh-%d", i))
		if err != nil {
			return fmt.Errorf("login for refresh: %w", err)
		}
		chains <- rt
	}
	// The raw baseline rotates rows of its own (children without a parent), so the service's chains stay intact.
	var refreshIDs, refreshSession []int64
	rowsq, err := db.QueryContext(ctx, `INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at)
		SELECT session_id, NULL, 'bench', issued_at, expires_at FROM refresh_tokens ORDER BY id DESC LIMIT $1
		RETURNING id, session_id`, o.clients)
	if err != nil {
		return err
	}
	for rowsq.Next() {
		var id, sid int64
		if err := rowsq.Scan(&id, &sid); err != nil {
			return err
		}
		refreshIDs, refreshSession = append(refreshIDs, id), append(refreshSession, sid)
	}
	rowsq.Close()
	var rawSeq atomic.Int64
	refreshSQL := raw("baseline: raw SQL, the 4 statements of a refresh (2 reads, 1 transaction)", func(ctx context.Context) error {
		i := int(rawSeq.Add(1)) % len(refreshIDs)
		if _, err := queryAll(ctx, db, sqlStep{refreshRowSQL, fixed(refreshIDs[i])}); err != nil {
			return err
		}
		if _, err := queryAll(ctx, db, sqlStep{sessionSQL, fixed(refreshSession[i], userID)}); err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, rotateSQL, refreshIDs[i], now); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, childSQL, refreshSession[i], "bench-hash", now, now.Add(time.Hour)).Scan(&id); err != nil {
			return err
		}
		return tx.Commit()
	})
	refresh := service("service: POST /refresh_token (rotation + login blocks)", func(ctx context.Context) error {
		rt := <-chains
		next, err := refreshOnce(ctx, client, r.base, rt)
		if err == nil {
			rt = next
		}
		chains <- rt
		return err
	})
	last().vsFiber, last().vsSQL = ratio(refresh.rate(), fiber.rate()), ratio(refresh.rate(), refreshSQL.rate())

	// Filters: a cache hit costs the access check, which reads the change counter too; a miss adds the list.
	hitSQL := raw("baseline: raw SQL, a cached list's one statement (access check with the counter)", sqlCaller(db,
		sqlStep{sessionSQL, fixed(sessionID, userID)}))
	raw("baseline: raw SQL, the general filter's list statement (what a cache miss adds)", sqlCaller(db,
		sqlStep{listAllSQL, fixed(companyID, pageRows, 0)}))
	for _, path := range []string{"/reports/general/filter/null/null/null", "/reports/vehicle/filter"} {
		s := service("service: GET "+path, getter(client, r.base+path, token))
		last().vsFiber, last().vsSQL = ratio(s.rate(), fiber.rate()), ratio(s.rate(), hitSQL.rate())
	}

	// The 1C feed: each client pages through every report from the start, 100 at a time.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":"+onecPass))
	var feedAfter atomic.Int64
	feedRaw := raw("baseline: raw SQL, the feed's list statement", func(ctx context.Context) error {
		_, err := queryAll(ctx, db, sqlStep{feedSQL, fixed(feedAfter.Add(100)%int64(o.totalReports), 100)})
		return err
	})
	var feedSeq atomic.Int64
	feed := service("service: GET /1c/reports?limit=100 (paging)", func(ctx context.Context) error {
		after := feedSeq.Add(100) % int64(o.totalReports)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/1c/reports?limit=100&after=%d", r.base, after), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", basic)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("feed: status %d", resp.StatusCode)
		}
		return err
	})
	last().vsFiber, last().vsSQL = ratio(feed.rate(), fiber.rate()), ratio(feed.rate(), feedRaw.rate())
	r.close()

	logf("uploads: %d × %d MiB, %d rounds, on a fresh service…", o.uploads, o.uploadMiB, o.rounds)
	up, err := measureUploads(ctx, o)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}

	fmt.Printf("\nsuite: %d clients, %s per target after %s warm-up; %d companies, the first with %d vehicles and %d of %d reports; PostgreSQL and MinIO\n\n",
		o.clients, o.duration, o.warmup, o.companies, o.vehicles, o.companyReports, o.totalReports)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "target\treq/s\tp50\tp99\terrors\tVmHWM\t÷ fiber\t÷ sql / raw\t")
	for _, x := range rows {
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", x.name, x.s.rate(), ms(x.s.p50), ms(x.s.p99), x.s.errs,
			mib(x.hwm), dash(x.vsFiber), dash(x.vsSQL))
	}
	fmt.Fprintf(w, "baseline: minio-go PutObject, %d × %d MiB\t%.1f MB/s\t-\t-\t%d\t-\t-\t-\t\n", o.uploads, o.uploadMiB, up.raw.mbps(), up.raw.errs)
	fmt.Fprintf(w, "service: POST /reports/upload, %d × %d MiB\t%.1f MB/s\t-\t-\t%d\t%s\t-\t%s\t\n", o.uploads, o.uploadMiB, up.svc.mbps(),
		up.svc.errs, mib(up.svc.hwm), ratio(up.svc.mbps(), up.raw.mbps()))
	w.Flush()
	for _, x := range rows {
		if x.s.firstErr != nil {
			fmt.Printf("first error of %s: %v\n", x.name, x.s.firstErr)
		}
	}
	var general row
	for _, x := range rows {
		if strings.HasPrefix(x.name, "service: GET /reports/general/filter") {
			general = x
		}
	}
	fmt.Println("\ntargets (64 clients, p99 < 20 ms, no errors):")
	fmt.Printf("  refresh ≥ 3,000/s: %.0f/s, p99 %s: %s\n", refresh.rate(), ms(refresh.p99),
		verdict(refresh.rate() >= 3000 && refresh.p99 < 20*time.Millisecond && refresh.errs == 0))
	fmt.Printf("  general filter ≥ 5,000/s: %.0f/s, p99 %s: %s\n", general.s.rate(), ms(general.s.p99),
		verdict(general.s.rate() >= 5000 && general.s.p99 < 20*time.Millisecond && general.s.errs == 0))
	fmt.Printf("  upload ≥ 0.8 of raw, VmHWM < 100 MiB: %s, %s: %s\n", ratio(up.svc.mbps(), up.raw.mbps()), mib(up.svc.hwm),
		verdict(up.svc.errs == 0 && up.svc.mbps() >= 0.8*up.raw.mbps() && up.svc.hwm < 100*1024))
	fmt.Println("the service ran with the OTP send limits lifted (FL_OTP_HOURLY_PER_BIN/IP, FL_OTP_DAILY_FAILURES) so logins can be measured")
	return nil
}

var refreshTokenField = regexp.MustCompile(`"refresh_token":"([^"]+)"`)

// refreshOnce rotates rt and returns its successor. The answer is read whole, as the app would, but only
// the token is picked out of it: decoding ~100 KB of login blocks would load the shared CPU with the
// client's work, not the service's.
func refreshOnce(ctx context.Context, client *http.Client, base, rt string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/refresh_token", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+rt)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /refresh_token: %d %.300s", resp.StatusCode, raw)
	}
	m := refreshTokenField.FindSubmatch(raw[:min(len(raw), 4096)])
	if m == nil {
		return "", errors.New("POST /refresh_token: no refresh_token in the answer")
	}
	return string(m[1]), nil
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

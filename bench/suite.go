package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/forteleasing/inspections/bench/kit"
)

// Statements copied from the stores (the service does not export them); keep them in step when a store
// changes, or a baseline measures something else. Placeholders are PostgreSQL's, as pgx sends them.
const (
	// auth/store.go: RequestOTP (companyByBIIN, lockedUntil, issueOTP) and Login (lockedUntil, otpFor,
	// consumeOTP, companyByBIIN, startSession for a director); then the login answer's blocks (reports: the
	// change counter, as startSession's principal carries none) and employees (employees.Store.List).
	companySQL    = `SELECT id, biin, name, email, active FROM companies WHERE biin = $1`
	lockedSQL     = `SELECT locked_until FROM otp_lockouts WHERE biin = $1 AND locked_until > $2`
	touchSQL      = `UPDATE companies SET otp_requested_at = $2 WHERE id = $1`
	lastDeviceSQL = `SELECT sent_at FROM otp_sends WHERE biin = $1 AND device_uuid = $2 ORDER BY sent_at DESC LIMIT 1`
	binCountSQL   = `SELECT count(*) FROM otp_sends WHERE biin = $1 AND sent_at > $2`
	binOldestSQL  = `SELECT sent_at FROM otp_sends WHERE biin = $1 AND sent_at > $2 ORDER BY sent_at LIMIT 1`
	ipCountSQL    = `SELECT count(*) FROM otp_sends WHERE client_ip = $1 AND sent_at > $2`
	ipOldestSQL   = `SELECT sent_at FROM otp_sends WHERE client_ip = $1 AND sent_at > $2 ORDER BY sent_at LIMIT 1`
	upsertOTPSQL  = `INSERT INTO otps (biin, device_uuid, role, mobile, first_name, fcm_token, code_hash, attempts, created_at, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, NULL)
		ON CONFLICT (biin, device_uuid) DO UPDATE SET
			role = excluded.role, mobile = excluded.mobile, first_name = excluded.first_name,
			fcm_token = excluded.fcm_token, code_hash = excluded.code_hash, attempts = 0,
			created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = NULL`
	insertSendSQL = `INSERT INTO otp_sends (biin, device_uuid, client_ip, sent_at) VALUES ($1, $2, $3, $4) RETURNING id`
	otpForSQL     = `SELECT id, biin, device_uuid, role, mobile, first_name, fcm_token, code_hash, attempts, created_at, expires_at, used_at
		FROM otps WHERE biin = $1 AND device_uuid = $2`
	consumeOTPSQL  = `UPDATE otps SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND attempts < $3`
	directorSQL    = `SELECT id FROM users WHERE company_id = $1 AND role = 1 AND active`
	endDeviceSQL   = `UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND device_uuid = $2 AND revoked_at IS NULL`
	newSessionSQL  = `INSERT INTO sessions (user_id, company_id, device_uuid, fcm_token, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`
	firstTokenSQL  = `INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at) VALUES ($1, NULL, $2, $3, $4) RETURNING id`
	sessionByIDSQL = `SELECT s.id, s.user_id, s.company_id, s.device_uuid, u.role, u.first_name, u.last_name, u.patronic_name,
		u.mobile, c.biin, c.name AS company_name, c.email AS company_email
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN companies c ON c.id = s.company_id WHERE s.id = $1`
	counterSQL   = `SELECT value FROM change_counter WHERE id = 1`
	employeesSQL = `SELECT id, first_name, mobile FROM users WHERE company_id = $1 AND role = 2 AND active ORDER BY id DESC LIMIT $2`

	// auth/store.go: Refresh on PostgreSQL (readAndRotate): the token with its session and the company's
	// versions, read and rotated in one statement. The answer's blocks come from the answer cache at
	// those versions, and the director's employee list from the cache kept under the auth version.
	refreshSQL = `
		WITH t AS (SELECT t.id AS token_id, t.secret_hash, t.issued_at, t.expires_at, t.rotated_at, ch.issued_at AS child_issued_at,
			(s.revoked_at IS NULL AND u.active AND c.active) AS live, s.id, s.user_id, s.company_id, s.device_uuid, u.role,
			u.first_name, u.last_name, u.patronic_name, u.mobile, c.biin, c.name AS company_name, c.email AS company_email,
			COALESCE(av.version, 0) AS auth_version, COALESCE(lv.reports + lv.fleet, 0) + 1 AS lists_version,
			COALESCE(lv.fleet, 0) + 1 AS fleet_version
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
			JOIN companies c ON c.id = s.company_id LEFT JOIN refresh_tokens ch ON ch.parent_id = t.id
			LEFT JOIN auth_versions av ON av.company_id = s.company_id
			LEFT JOIN list_versions lv ON lv.company_id = s.company_id
			WHERE t.id = $1),
		parent AS (
			UPDATE refresh_tokens p SET rotated_at = $2 FROM t
			WHERE p.id = t.token_id AND p.rotated_at IS NULL AND t.live AND t.id = $3 AND t.user_id = $4
				AND t.secret_hash = $5 AND t.expires_at > $2
			RETURNING p.id, p.session_id),
		child AS (
			INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at)
			SELECT session_id, id, $6, $2, $7 FROM parent
			RETURNING id)
		SELECT t.*, (SELECT id FROM child) AS child_id FROM t`

	// onec/store.go: feed — feedSelect with PostgreSQL's feedDialect and feedAfter: a page in one statement.
	feedPageSQL = `
	SELECT r.id, r.ref_key, r.report_number, r.contract_number, r.date_start, r.date_finish, r.status_code,
		r.reject_reason, r.change_seq, r.updated_at, c.biin, v.guid, v.vin_code, v.plate_number, v.contract_date_end,
		u.id, u.object_key, u.size, u.sha256, u.lat, u.lng, u.time_sent, u.odometer, u.created_at, u.uploader_id,
		us.first_name, us.mobile, a.status, a.file, a.reasons, a.checked_at,
		vc.id, vc.status, vc.provider, vc.vin_expected, vc.vin_found, vc.facts, vc.odometer, vc.checked_at,
		(SELECT json_agg(json_build_object('s', e.status_code, 'r', e.reject_reason, 'a', e.actor, 't', e.created_at) ORDER BY e.id) FROM report_events e WHERE e.report_id = r.id)
	FROM reports r JOIN companies c ON c.id = r.company_id JOIN vehicles v ON v.id = r.vehicle_id
	LEFT JOIN LATERAL (SELECT * FROM uploads WHERE report_id = r.id ORDER BY id DESC LIMIT 1) u ON TRUE
	LEFT JOIN users us ON us.id = u.uploader_id
	LEFT JOIN authenticity_checks a ON a.upload_id = u.id
	LEFT JOIN LATERAL (SELECT * FROM vin_checks WHERE report_id = r.id ORDER BY id DESC LIMIT 1) vc ON TRUE
	WHERE r.change_seq > $1 ORDER BY r.change_seq LIMIT $2`

	// The feed before it read a page in one statement (fa617e7): onec/store.go feed, latestUploads and
	// history, vehicles/vincheck/store.go latest, authenticity/store.go latest, the IN lists filled with
	// one placeholder per report of the page, as sqlx.In and inList did. Kept to show what the folding saved.
	oldFeedSQL = `SELECT r.id, r.ref_key, r.report_number, r.contract_number, r.date_start, r.date_finish, r.status_code,
			r.reject_reason, r.change_seq, r.updated_at, c.biin, v.guid AS vehicle_guid, v.vin_code, v.plate_number,
			v.contract_date_end
		FROM reports r JOIN companies c ON c.id = r.company_id JOIN vehicles v ON v.id = r.vehicle_id
		WHERE r.change_seq > $1 ORDER BY r.change_seq LIMIT $2`
	oldFeedUploadsSQL = `SELECT u.report_id, u.object_key, u.size, u.sha256, u.lat, u.lng, u.time_sent, u.odometer, u.created_at,
			u.uploader_id, us.first_name, us.mobile
		FROM uploads u JOIN users us ON us.id = u.uploader_id
		WHERE u.report_id IN (%s) ORDER BY u.id`
	oldFeedHistorySQL = `SELECT report_id, status_code, reject_reason, actor, created_at FROM report_events
		WHERE report_id IN (%s) ORDER BY id`
	oldFeedChecksSQL = `SELECT report_id, status, provider, vin_expected, vin_found, facts, odometer, checked_at
		FROM vin_checks WHERE report_id IN (%s) ORDER BY report_id, id`
	oldFeedAnalysesSQL = `SELECT u.report_id, u.id AS upload_id, COALESCE(a.status, 'pending') AS status,
			COALESCE(a.file, '') AS file, COALESCE(a.reasons, '[]') AS reasons, COALESCE(a.runs, 0) AS runs, a.checked_at
		FROM uploads u LEFT JOIN authenticity_checks a ON a.upload_id = u.id
		WHERE u.report_id IN (%s) ORDER BY u.report_id, u.id`
)

// Limits the service uses, copied: employees.MaxList, the OTP's default maximum of wrong tries.
const (
	maxEmployees   = 1000
	otpMaxAttempts = 5
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
func (r *rig) loginAs(ctx context.Context, client *http.Client, i int, device string) (access, refresh string, err error) {
	ch := r.mb.expect(kit.SeedCompany(i).Email)
	if err := post(ctx, client, r.svc.Base+"/biin/"+kit.BIIN(i), "", map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}, nil); err != nil {
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
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(kit.BIIN(i)+"-"+device+":"+otp))
		err = post(ctx, client, r.svc.Base+"/auth", basic, nil, &ans)
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
	return kit.DoJSON(ctx, client, http.MethodPost, url, body, auth, out)
}

// suiteEnv is what the suite changes in the service's configuration, printed under the table. The bench's
// own settings (setup) add FL_ACCESS_TTL=2h and the 1C credentials; everything else is the default.
var suiteEnv = []string{"FL_OTP_COOLDOWN=1ms", "FL_OTP_HOURLY_PER_BIN=100000000", "FL_OTP_HOURLY_PER_IP=100000000",
	"FL_OTP_DAILY_FAILURES=100000000"}

// setupMailed is setup for the scenarios that measure logins by the thousand: the OTP send limits are
// lifted for this service only (suiteEnv; the cooldown cannot be 0: the configuration refuses it), while
// everything else (hashing, single use, tries) works as in production, and the codes travel over real
// SMTP to the bench's mailbox (r.mb, closed by r.close).
func setupMailed(ctx context.Context, o options) (*rig, error) {
	mb, err := startMailbox()
	if err != nil {
		return nil, err
	}
	r, err := setup(ctx, o, append([]string{"FL_MAIL_URL=smtp://" + mb.addr}, suiteEnv...)...)
	if err != nil {
		mb.close()
		return nil, err
	}
	r.mb = mb
	return r, nil
}

// runSuite measures every load target of issue 8 on one seeded service and prints one table.
func runSuite(ctx context.Context, o options) error {
	if o.clients > o.Companies {
		return fmt.Errorf("-c %d: the suite logs each client in as its own company; use at most -companies (%d)", o.clients, o.Companies)
	}
	r, err := setupMailed(ctx, o)
	if err != nil {
		return err
	}
	defer r.close()
	seeded, err := seedFilter(ctx, r)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	client := kit.NewLoadClient(o.clients, 30*time.Second)
	token, _, err := r.loginAs(ctx, client, 0, "bench-director")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	b, err := startBaselines(ctx, r)
	if err != nil {
		return err
	}
	defer b.close()
	db, companyID, fb, fbBase := b.db, b.companyID, b.fiber, b.fiberBase

	var rows []row
	profiles := 0
	// measured warms up, then drives the target, reading the CPU times of the server (0: none), PostgreSQL,
	// the bench and the machine around the measured window only.
	measured := func(name string, server int, do func(context.Context) error) (kit.Stats, cpuUse) {
		kit.Logf("driving %s for %s…", name, o.duration)
		if o.warmup > 0 {
			o.load(o.warmup).Drive(ctx, do)
		}
		before := readCPU(server)
		s := o.load(o.duration).Drive(ctx, do)
		use := before.to(readCPU(server))
		if server == 0 {
			use.server = -1
		}
		return s, use
	}
	service := func(name string, do func(context.Context) error) kit.Stats {
		if o.pprofDir != "" {
			_ = os.MkdirAll(o.pprofDir, 0o755) // a missing directory fails the profile, not the row
			profiles++
			path := filepath.Join(o.pprofDir, fmt.Sprintf("%d-%s.pprof", profiles, kit.Slug(name)))
			kit.Profile(ctx, r.svc.Admin, o.warmup, o.duration-time.Second, path)
			kit.Logf("profiling into %s", path)
		}
		rss := sampleRSS(r.svc.PID())
		s, use := measured(name, r.svc.PID(), do)
		hwm, peak := rss.finish()
		rows = append(rows, row{name: name, s: s, hwm: hwm, peak: peak, cpu: &use})
		return s
	}
	raw := func(name string, do func(context.Context) error) kit.Stats {
		s, use := measured(name, 0, do)
		rows = append(rows, row{name: name, s: s, cpu: &use})
		return s
	}
	last := func() *row { return &rows[len(rows)-1] }

	only := map[string]bool{}
	for _, name := range strings.Split(o.only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			only[name] = true
		}
	}
	runs := func(group string) bool { return len(only) == 0 || only[group] }
	var refresh, general kit.Stats
	up := &uploadOutcome{}

	fiber, fiberCPU := measured("baseline: bare Fiber GET /baseline", fb.PID(), kit.Getter(client, fbBase+"/baseline", "Bearer "+token))
	rows = append(rows, row{name: "baseline: bare Fiber GET /baseline (fixed 52-byte JSON)", s: fiber, cpu: &fiberCPU})

	if runs("login") {
		// Login: each client logs in as the director of a company no other client is using at that moment,
		// with a new device each time (a company's codes go to one mailbox). The raw baseline does the same
		// with devices of its own, then takes its rate-limit rows back out, so that the service's count
		// queries find what the baseline's found.
		free := make(chan int, o.clients)
		for i := 0; i < o.clients; i++ {
			free <- i
		}
		var rawLoginSeq atomic.Int64
		loginSQL := raw("baseline: raw SQL, the 21 statements of a login (OTP request, POST /auth, its blocks)", func(ctx context.Context) error {
			i := <-free
			defer func() { free <- i }()
			return rawLogin(ctx, db, kit.BIIN(i), fmt.Sprintf("raw-%d", rawLoginSeq.Add(1)))
		})
		if _, err := db.ExecContext(ctx, `DELETE FROM otp_sends WHERE device_uuid LIKE 'raw-%'`); err != nil {
			return err
		}
		var loginSeq atomic.Int64
		login := service("service: login (POST /biin + SMTP + POST /auth)", func(ctx context.Context) error {
			i := <-free
			defer func() { free <- i }()
			_, _, err := r.loginAs(ctx, client, i, fmt.Sprintf("dev-%d", loginSeq.Add(1)))
			return err
		})
		last().vsFiber, last().vsSQL = ratio(login.Rate(), fiber.Rate()), ratio(login.Rate(), loginSQL.Rate())
	}

	if runs("refresh") {
		// Refresh: each client rotates its own session's chain. The raw baseline rotates chains of its own,
		// rooted in the same sessions, so the service's chains stay intact.
		chains := make(chan string, o.clients)
		for i := 0; i < o.clients; i++ {
			_, rt, err := r.loginAs(ctx, client, i, fmt.Sprintf("refresh-%d", i))
			if err != nil {
				return fmt.Errorf("login for refresh: %w", err)
			}
			chains <- rt
		}
		rawChains, err := rawRefreshChains(ctx, db, o.clients)
		if err != nil {
			return err
		}
		refreshRaw := raw("baseline: raw SQL, the one statement of a refresh (read and rotate)", func(ctx context.Context) error {
			next, err := rawRefresh(ctx, db, <-rawChains)
			rawChains <- next
			return err
		})
		refresh = service("service: POST /refresh_token (rotation + login blocks)", func(ctx context.Context) error {
			rt := <-chains
			next, err := refreshOnce(ctx, client, r.svc.Base, rt)
			if err == nil {
				rt = next
			}
			chains <- rt
			return err
		})
		last().vsFiber, last().vsSQL = ratio(refresh.Rate(), fiber.Rate()), ratio(refresh.Rate(), refreshRaw.Rate())
	}

	if runs("filters") {
		// Filters: nothing writes during these targets, so the service answers from its answer cache, which
		// costs the access check (one statement: the company's auth and list versions). A miss — after any
		// write to a report, a vehicle or a type — adds the list, the types and the filter block's vehicles.
		session := sqlStep{versionsSQL, fixed(companyID)}
		types, briefs := sqlStep{typesSQL, fixed(companyID)}, sqlStep{briefsSQL, fixed(companyID, 500)}
		hitSQL := raw("baseline: raw SQL, a cache hit: the access check, 1 statement (reads the versions)", sqlCaller(db, session))
		raw("baseline: raw SQL, a general filter cache miss: 4 statements", sqlCaller(db,
			session, sqlStep{listAllSQL, fixed(companyID, pageRows, 0)}, types, briefs))
		raw("baseline: raw SQL, a vehicle filter cache miss: 4 statements", sqlCaller(db,
			session, sqlStep{byVehicleSQL, fixed(companyID, pageRows, 0)}, types, briefs))
		for _, path := range []string{"/reports/general/filter/null/null/null", "/reports/vehicle/filter"} {
			s := service("service: GET "+path, kit.Getter(client, r.svc.Base+path, "Bearer "+token))
			last().vsFiber, last().vsSQL = ratio(s.Rate(), fiber.Rate()), ratio(s.Rate(), hitSQL.Rate())
			if general.Elapsed == 0 {
				general = s
			}
		}
	}

	if runs("feed") {
		// The 1C feed: each client pages through the feed from its own starting point, following the cursor
		// each page returns and starting over at the end, 100 reports a page.
		cursors := func() chan int64 {
			ch := make(chan int64, o.clients)
			for i := 0; i < o.clients; i++ {
				ch <- int64(i) * int64(o.Total) / int64(o.clients)
			}
			return ch
		}
		kit.Logf("giving the reports past status 1 an upload, its VIN check and analysis, and every report its history…")
		step := time.Now()
		if err := seedFeedBlocks(ctx, db); err != nil {
			return fmt.Errorf("seed the feed's blocks: %w", err)
		}
		kit.Logf("seeded in %s", time.Since(step).Round(100*time.Millisecond))
		rawCursors := cursors()
		feedSQLRate := raw("baseline: raw SQL, the feed's one statement a page (reports, uploads, analyses, VIN checks, history)", func(ctx context.Context) error {
			after := <-rawCursors
			next, err := rawFeedPage(ctx, db, after, false)
			rawCursors <- next
			return err
		})
		rawCursors = cursors()
		raw("baseline: raw SQL, the same page in the feed's 5 statements before (list, uploads, history, VIN checks, analyses)", func(ctx context.Context) error {
			after := <-rawCursors
			next, err := rawFeedPage(ctx, db, after, true)
			rawCursors <- next
			return err
		})
		basic := kit.OnecBasic()
		svcCursors := cursors()
		feed := service("service: GET /1c/reports?limit=100&after=… (paging)", func(ctx context.Context) error {
			after := <-svcCursors
			next, err := feedPage(ctx, client, r.svc.Base, basic, after)
			svcCursors <- next
			return err
		})
		last().vsFiber, last().vsSQL = ratio(feed.Rate(), fiber.Rate()), ratio(feed.Rate(), feedSQLRate.Rate())
	}

	r.close()
	fb.Stop()

	if runs("upload") {
		kit.Logf("uploads: %d × %d MiB, %d rounds, on a fresh service…", o.uploads, o.uploadMiB, o.rounds)
		if up, err = measureUploads(ctx, o); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
	}

	fmt.Printf("\nsuite: %d clients, %s per target after %s warm-up; %d companies, the first with %d vehicles and %d of %d reports; PostgreSQL and MinIO\n",
		o.clients, o.duration, o.warmup, o.Companies, o.Vehicles, o.Reports, o.Total)
	fmt.Printf("seeding took %s; each figure stands next to its baseline measured in this run, on this machine, with this client\n\n",
		seeded.total().Round(100*time.Millisecond))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "target\treq/s\tp50\tp99\terrors\tpeak RSS\t÷ fiber\t÷ sql / raw\tCPU: server\tpg\tbench\tmachine\tserver ms/op\t")
	for _, x := range rows {
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", x.name, x.s.Rate(), kit.Ms(x.s.P50), kit.Ms(x.s.P99), x.s.Errs,
			kit.MiB(x.hwm), dash(x.vsFiber), dash(x.vsSQL), x.cpu.columns(x.s.Rate()))
	}
	if runs("upload") {
		fmt.Fprintf(w, "baseline: minio-go PutObject, %d × %d MiB at once, %d rounds\t%.1f MB/s\t-\t-\t%d\t-\t-\t-\t%s\t\n",
			o.uploads, o.uploadMiB, len(up.raw.Rounds), up.raw.MBps(), up.raw.Errs, (*cpuUse)(nil).columns(0))
		fmt.Fprintf(w, "service: POST /reports/upload, %d × %d MiB at once, %d rounds\t%.1f MB/s\t-\t-\t%d\t%s\t-\t%s\t%s\t\n",
			o.uploads, o.uploadMiB, len(up.svc.Rounds), up.svc.MBps(), up.svc.Errs, kit.MiB(up.svc.hwm), ratio(up.svc.MBps(), up.raw.MBps()),
			(*cpuUse)(nil).columns(0))
	}
	w.Flush()
	for _, x := range rows {
		if x.s.FirstErr != nil {
			fmt.Printf("first error of %s: %v\n", x.name, x.s.FirstErr)
		}
	}
	for name, u := range map[string]uploadResult{"raw uploads": up.raw, "service uploads": up.svc} {
		if u.FirstErr != nil {
			fmt.Printf("first error of %s: %v\n", name, u.FirstErr)
		}
	}
	fmt.Printf("\nreq/s counts successes per second of the measured window; p50/p99 are the client's latencies of successes;\n" +
		"peak RSS is the service's VmHWM during that target (reset when it starts); ÷ fiber and ÷ sql / raw divide the\n" +
		"service's rate by the bare Fiber route and by the raw SQL row above it (the cache-hit row for the filters, the\n" +
		"feed's one statement for the feed); upload rates are MB/s (10^6 bytes) over all rounds, the ratio service / raw.\n" +
		"CPU columns: cores kept busy during the measured window by the server under test (the service, or the Fiber\n" +
		"child), all PostgreSQL processes, the bench (load client and its SMTP server) and the whole machine (other\n" +
		"people's work included; it has 2 cores); server ms/op is the server's CPU time per successful operation.\n")
	fmt.Printf("the service ran with %s (OTP send limits lifted so logins can be measured;\n"+
		"FL_OTP_COOLDOWN=0s is refused by the configuration) and FL_ACCESS_TTL=2h; OTP e-mails go over SMTP to a server in the bench\n",
		strings.Join(suiteEnv, " "))

	at := ""
	if o.clients != 64 {
		at = fmt.Sprintf(" — measured at %d clients, so only indicative", o.clients)
	}
	fmt.Printf("\ntargets (64 clients, p99 < 20 ms, zero errors)%s:\n", at)
	if runs("refresh") {
		fmt.Printf("  refresh ≥ 3,000/s:        %6.0f/s, p99 %s, %d errors: %s\n", refresh.Rate(), kit.Ms(refresh.P99), refresh.Errs,
			kit.Verdict(refresh.Rate() >= 3000 && refresh.P99 < 20*time.Millisecond && refresh.Errs == 0))
	}
	if runs("filters") {
		fmt.Printf("  general filter ≥ 5,000/s: %6.0f/s, p99 %s, %d errors: %s\n", general.Rate(), kit.Ms(general.P99), general.Errs,
			kit.Verdict(general.Rate() >= 5000 && general.P99 < 20*time.Millisecond && general.Errs == 0))
	}
	if runs("upload") {
		fmt.Printf("  upload ≥ 0.8 of raw, peak RSS < 100 MiB: %s of raw, %s, %d errors: %s\n", ratio(up.svc.MBps(), up.raw.MBps()),
			kit.MiB(up.svc.hwm), up.svc.Errs, kit.Verdict(up.svc.Errs == 0 && up.raw.Errs == 0 && up.svc.MBps() >= 0.8*up.raw.MBps() && up.svc.hwm < 100*1024))
	}
	return nil
}

// rawLogin runs the statements of one OTP request and one POST /auth of a director, with the values the
// service would pass (the code's hash is a placeholder: hashing is the service's CPU, not SQL).
func rawLogin(ctx context.Context, db *sql.DB, biin, device string) error {
	now := time.Now().UTC()
	var companyID int64
	var b, name, email string
	var active bool
	if err := db.QueryRowContext(ctx, companySQL, biin).Scan(&companyID, &b, &name, &email, &active); err != nil {
		return err
	}
	if _, err := queryArgs(ctx, db, lockedSQL, biin, now); err != nil {
		return err
	}
	since, hash := now.Add(-time.Hour), "raw-"+device
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, touchSQL, companyID, now); err != nil {
			return err
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{lastDeviceSQL, []any{biin, device}}, {binCountSQL, []any{biin, since}}, {binOldestSQL, []any{biin, since}},
			{ipCountSQL, []any{"127.0.0.1", since}}, {ipOldestSQL, []any{"127.0.0.1", since}},
		} {
			if _, err := queryArgs(ctx, tx, q.sql, q.args...); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, upsertOTPSQL, biin, device, 1, "", "", "fcm-"+device, hash, now, now.Add(10*time.Minute)); err != nil {
			return err
		}
		var sendID int64
		return tx.QueryRowContext(ctx, insertSendSQL, biin, device, "127.0.0.1", now).Scan(&sendID)
	})
	if err != nil {
		return err
	}
	// POST /auth
	if _, err := queryArgs(ctx, db, lockedSQL, biin, now); err != nil {
		return err
	}
	var otpID int64
	var role, attempts int
	var dev, mobile, first, fcm, codeHash string
	var created, expires time.Time
	var used sql.NullTime
	if err := db.QueryRowContext(ctx, otpForSQL, biin, device).Scan(&otpID, &b, &dev, &role, &mobile, &first, &fcm, &codeHash,
		&attempts, &created, &expires, &used); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, consumeOTPSQL, otpID, now, otpMaxAttempts); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, companySQL, biin).Scan(&companyID, &b, &name, &email, &active); err != nil {
		return err
	}
	return inTx(ctx, db, func(tx *sql.Tx) error {
		var userID, sessionID, rti int64
		if err := tx.QueryRowContext(ctx, directorSQL, companyID).Scan(&userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, endDeviceSQL, userID, device, now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, newSessionSQL, userID, companyID, device, fcm, now).Scan(&sessionID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, firstTokenSQL, sessionID, "raw-rtp-hash", now, now.Add(720*time.Hour)).Scan(&rti); err != nil {
			return err
		}
		if _, err := queryArgs(ctx, tx, sessionByIDSQL, sessionID); err != nil {
			return err
		}
		return nil
	}, func() error { // after the commit: the login answer's blocks
		if _, err := queryArgs(ctx, db, counterSQL); err != nil {
			return err
		}
		_, err := queryArgs(ctx, db, employeesSQL, companyID, maxEmployees)
		return err
	})
}

// rawChain is one raw refresh chain: the newest token and the session it belongs to.
type rawChain struct{ token, session, user, company int64 }

// rawRefreshChains roots one chain per client in the sessions the service's refresh clients opened.
func rawRefreshChains(ctx context.Context, db *sql.DB, n int) (chan rawChain, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, user_id, company_id FROM sessions
		WHERE device_uuid LIKE 'refresh-%' AND revoked_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var sessions []rawChain
	for rows.Next() {
		var c rawChain
		if err := rows.Scan(&c.session, &c.user, &c.company); err != nil {
			rows.Close()
			return nil, err
		}
		sessions = append(sessions, c)
	}
	rows.Close()
	if len(sessions) < n {
		return nil, fmt.Errorf("raw refresh: %d sessions for %d clients", len(sessions), n)
	}
	ch := make(chan rawChain, n)
	now := time.Now().UTC()
	for _, c := range sessions[:n] {
		if err := db.QueryRowContext(ctx, firstTokenSQL, c.session, "raw-root", now, now.Add(720*time.Hour)).Scan(&c.token); err != nil {
			return nil, err
		}
		ch <- c
	}
	return ch, nil
}

// rawRefresh runs the statements of one refresh on chain c and returns the chain with its new token.
func rawRefresh(ctx context.Context, db *sql.DB, c rawChain) (rawChain, error) {
	// A refresh that has started runs to its end: one cut off by the end of a measurement could commit
	// without the client learning the child, and the chain would be stuck on a rotated token. (drive
	// drops calls that end after the deadline.)
	ctx = context.WithoutCancel(ctx)
	now := time.Now().UTC()
	rows, err := db.QueryContext(ctx, refreshSQL, c.token, now, c.session, c.user, "raw-root", "raw-root", now.Add(720*time.Hour))
	if err != nil {
		return c, fmt.Errorf("raw refresh: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(any)
	}
	if !rows.Next() {
		return c, fmt.Errorf("raw refresh: token %d not found", c.token)
	}
	if err := rows.Scan(vals...); err != nil {
		return c, err
	}
	child, ok := (*vals[len(vals)-1].(*any)).(int64)
	if !ok {
		return c, fmt.Errorf("raw refresh: token %d was not rotated", c.token)
	}
	c.token = child
	return c, rows.Err()
}

// rawFeedPage runs a feed page after the cursor — the feed's one statement, or (old) the five statements
// it took before — reading every column, and returns the next cursor: the last row's change number, or 0
// at the end of the feed.
func rawFeedPage(ctx context.Context, db *sql.DB, after int64, old bool) (int64, error) {
	list := feedPageSQL
	if old {
		list = oldFeedSQL
	}
	rows, err := db.QueryContext(ctx, list, after, 100)
	if err != nil {
		return 0, err
	}
	var ids []any
	next := int64(0)
	cols, _ := rows.Columns()
	vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, vals[0])
		next, _ = vals[8].(int64) // change_seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) < 100 {
		next = 0
	}
	if !old || len(ids) == 0 {
		return next, nil
	}
	in := make([]string, len(ids))
	for i := range ids {
		in[i] = fmt.Sprintf("$%d", i+1)
	}
	marks := strings.Join(in, ", ")
	for _, q := range []string{oldFeedUploadsSQL, oldFeedHistorySQL, oldFeedChecksSQL, oldFeedAnalysesSQL} {
		if _, err := queryArgs(ctx, db, fmt.Sprintf(q, marks), ids...); err != nil {
			return 0, err
		}
	}
	return next, nil
}

var nextCursorField = []byte(`"next_cursor":"`)

// feedPage GETs one feed page after the cursor and returns next_cursor (0 when the feed ended). The
// answer is read whole; only the cursor is picked out of it, as refreshOnce does with the token.
func feedPage(ctx context.Context, client *http.Client, base, basic string, after int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/1c/reports?limit=100&after=%d", base, after), nil)
	if err != nil {
		return after, err
	}
	req.Header.Set("Authorization", basic)
	resp, err := client.Do(req)
	if err != nil {
		return after, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return after, err
	}
	if resp.StatusCode != http.StatusOK {
		return after, kit.HTTPStatusError(resp.StatusCode, "GET /1c/reports", body)
	}
	i := bytes.LastIndex(body, nextCursorField)
	if i < 0 {
		return after, errors.New("GET /1c/reports: no next_cursor in the answer")
	}
	rest := body[i+len(nextCursorField):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return 0, nil // "" : the page reached the end of the feed
	}
	return strconv.ParseInt(string(rest[:end]), 10, 64)
}

// inTx runs fn in a transaction as database.InTx does, then each of after (outside it).
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error, after ...func() error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, f := range after {
		if err := f(); err != nil {
			return err
		}
	}
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
		return "", kit.HTTPStatusError(resp.StatusCode, "POST /refresh_token", raw)
	}
	m := refreshTokenField.FindSubmatch(raw[:min(len(raw), 4096)])
	if m == nil {
		return "", errors.New("POST /refresh_token: no refresh_token in the answer")
	}
	return string(m[1]), nil
}

// columns formats the CPU columns of a row; a nil use (uploads) is dashes.
func (u *cpuUse) columns(rate float64) string {
	if u == nil {
		return "-\t-\t-\t-\t-"
	}
	server, perOp := "-", "-"
	if u.server >= 0 {
		server = fmt.Sprintf("%.2f", u.server)
		if rate > 0 {
			perOp = fmt.Sprintf("%.3f", u.server*1000/rate)
		}
	}
	return fmt.Sprintf("%s\t%.2f\t%.2f\t%.2f\t%s", server, u.postgres, u.bench, u.busy, perOp)
}

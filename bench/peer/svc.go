package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", for the PostgreSQL side of the service
)

// Credentials the bench gives the service; nothing outside this machine sees them.
const (
	onecUser  = "bench-1c"
	onecPass  = "bench-1c-password"
	jwtSecret = "bench-secret-bench-secret-bench-secret"
)

// buildService compiles ./cmd/forteleasing of the repository this module sits in (two levels up).
func buildService(ctx context.Context, root, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/forteleasing")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/forteleasing: %v\n%s", err, out)
	}
	return nil
}

// svc is one running instance of the service, on SQLite or on PostgreSQL.
type svc struct {
	name, dir, dbURL, base, admin string
	p                             *proc
	start                         func(ctx context.Context) error // (re)starts p on base and admin
}

// startService starts bin on a free port with dbURL ("sqlite://…" or "postgres://…") and the bucket of s3URL.
func startService(ctx context.Context, name, bin, dir, dbURL, s3URL string, uploadMax int64) (*svc, error) {
	s := &svc{name: name, dir: dir, dbURL: dbURL}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.base, s.admin = "http://"+addr, fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	env := []string{
		"FL_ADDR=" + addr, "FL_ADMIN_ADDR=" + strings.TrimPrefix(s.admin, "http://"), "FL_PUBLIC_URL=" + s.base,
		"FL_DATA_DIR=" + filepath.Join(dir, "data"), "FL_DATABASE_URL=" + dbURL, "FL_MEDIA_URL=" + s3URL,
		"FL_MAIL_URL=file://" + filepath.Join(dir, "outbox"), "FL_JWT_SECRET=" + jwtSecret,
		"FL_ONEC_USER=" + onecUser, "FL_ONEC_PASSWORD=" + onecPass, "FL_ACCESS_TTL=2h", "FL_LOG_LEVEL=warn",
		// Logins are set-up here, not measured: the OTP limits are lifted so that 64 devices can log in.
		"FL_OTP_COOLDOWN=1ms", "FL_OTP_HOURLY_PER_BIN=100000000", "FL_OTP_HOURLY_PER_IP=100000000", "FL_OTP_DAILY_FAILURES=100000000",
		fmt.Sprintf("FL_UPLOAD_MAX_BYTES=%d", max(uploadMax, 64<<20)),
		// The uploads run as one user, -uploads at once: the per-user cap (2) would refuse most of them.
		"FL_UPLOAD_CONCURRENCY_PER_USER=64",
	}
	s.start = func(ctx context.Context) error {
		var err error
		if s.p, err = startProc(bin, []string{"serve"}, env, filepath.Join(dir, "service.log")); err != nil {
			return err
		}
		if err := s.p.WaitHTTP(ctx, s.base+"/", 2*time.Minute); err != nil {
			_ = s.p.Stop()
			return err
		}
		return nil
	}
	return s, s.start(ctx)
}

// seed loads the fleet: types and companies through the 1C API, as 1C sends them, then vehicles and
// reports with multi-row INSERTs straight into the service's database (200,000 1C upserts would take long).
// On SQLite the service is stopped meanwhile (its background jobs' writes would make every batch wait for
// the lock) and started again afterwards.
// keep, on SQLite, is where to copy the seeded database file for -cache ("" for none).
func (s *svc) seed(ctx context.Context, f *fleet, keep string) error {
	if err := s.seedAPI(ctx, f); err != nil {
		return err
	}
	path, sqlite := strings.CutPrefix(s.dbURL, "sqlite://")
	if sqlite {
		if err := s.p.Stop(); err != nil {
			return err
		}
	}
	if err := s.seedSQL(ctx, f); err != nil {
		return err
	}
	if !sqlite {
		return nil
	}
	if keep != "" {
		if err := copyTree(path, keep); err != nil {
			return err
		}
	}
	return s.start(ctx)
}

func (s *svc) seedAPI(ctx context.Context, f *fleet) error {
	if err := s.onec(ctx, http.MethodPut, "/1c/vehicle-types", benchTypes); err != nil {
		return err
	}
	var companies []map[string]any
	for i, c := range f.companies {
		companies = append(companies, map[string]any{
			"biin": c.biin, "name": c.name, "email": fmt.Sprintf("fleet%03d@bench.kz", i),
			"director": map[string]any{"first_name": "Директор", "last_name": fmt.Sprintf("Бенч-%03d", i), "mobile": "+77010000000"},
			"active":   true, "data_version": "1",
		})
	}
	return s.onec(ctx, http.MethodPut, "/1c/companies", companies)
}

func (s *svc) seedSQL(ctx context.Context, f *fleet) error {
	driver, dsn := "pgx", s.dbURL
	if path, ok := strings.CutPrefix(s.dbURL, "sqlite://"); ok {
		// A big page cache: the five indexes of reports take random inserts, and with SQLite's default 2 MB
		// every insert read pages back from the WAL (200,000 reports took over 10 minutes).
		driver, dsn = "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=cache_size(-262144)"+
			"&_pragma=synchronous(OFF)&_time_format=sqlite"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ids := func(q string) (map[string]int64, error) {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var k string
			var id int64
			if err := rows.Scan(&k, &id); err != nil {
				return nil, err
			}
			m[k] = id
		}
		return m, rows.Err()
	}
	companyID, err := ids(`SELECT biin, id FROM companies`)
	if err != nil {
		return err
	}
	typeID, err := ids(`SELECT ref_key, id FROM vehicle_types`)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit
	now := f.now
	b := newBatch(tx, `INSERT INTO vehicles (guid, company_id, vehicle_type_id, vin_code, plate_number, contract_number,
		contract_date_end, data_version, created_at, updated_at) VALUES `, 10, "$")
	for _, v := range f.vehicles {
		if err := b.add(v.guid, companyID[f.companies[v.company].biin], typeID[benchTypes[v.typ]["ref_key"].(string)], v.vin, v.plate,
			v.contract, now.AddDate(2, 0, 0), "1", now, now); err != nil {
			return fmt.Errorf("insert vehicles: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert vehicles: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	vehicleID, err := ids(`SELECT guid, id FROM vehicles`)
	if err != nil {
		return err
	}
	if tx, err = db.BeginTx(ctx, nil); err != nil {
		return err
	}
	rebuild := func() error { return nil }
	if driver == "sqlite" {
		if rebuild, err = withoutIndexes(tx, "reports"); err != nil {
			return err
		}
	}
	b = newBatch(tx, `INSERT INTO reports (ref_key, company_id, vehicle_id, report_number, contract_number, date_start, date_finish,
		status_code, reject_reason, data_version, created_at, updated_at, change_seq) VALUES `, 13, "$")
	for i, r := range f.reports {
		v := f.vehicles[r.vehicle]
		if err := b.add(r.refKey, companyID[f.companies[v.company].biin], vehicleID[v.guid], r.number, v.contract, r.start, r.finish,
			r.status, r.reason, "1", r.start, r.start, i+1); err != nil {
			return fmt.Errorf("insert reports: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert reports: %w", err)
	}
	if err := rebuild(); err != nil {
		return err
	}
	// Later changes must number after the seeded ones (the 1C feed pages by change_seq).
	if _, err := tx.ExecContext(ctx, `UPDATE change_counter SET value = (SELECT COALESCE(max(change_seq), 0) FROM reports)`); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if driver == "sqlite" {
		_, err = db.ExecContext(ctx, `ANALYZE`)
		return err
	}
	for _, t := range []string{"companies", "vehicle_types", "vehicles", "reports"} {
		if _, err := db.ExecContext(ctx, `VACUUM ANALYZE `+t); err != nil {
			return err
		}
	}
	return nil
}

func (s *svc) onec(ctx context.Context, method, path string, body any) error {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":"+onecPass))
	return doJSON(ctx, http.DefaultClient, method, s.base+path, body, basic, nil)
}

var otpLine = regexp.MustCompile(`OTP: (\d+)`)

// login logs device in as company 0's director (OTP request, the code from the e-mail the service writes
// to its outbox, POST /auth) and returns the refresh and access tokens.
func (s *svc) login(ctx context.Context, f *fleet, device string) (refresh, access string, err error) {
	outbox := filepath.Join(s.dir, "outbox")
	before := map[string]bool{}
	old, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	for _, p := range old {
		before[p] = true
	}
	biin := f.companies[0].biin
	body := map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}
	if err := doJSON(ctx, http.DefaultClient, http.MethodPost, s.base+"/biin/"+biin, body, "", nil); err != nil {
		return "", "", err
	}
	var mail string
	for deadline := time.Now().Add(15 * time.Second); mail == "" && time.Now().Before(deadline); {
		files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		for _, p := range files {
			if !before[p] {
				mail = p
			}
		}
		if mail == "" {
			time.Sleep(20 * time.Millisecond) // polling the outbox directory, not synchronising goroutines
		}
	}
	if mail == "" {
		return "", "", errors.New("login: no OTP e-mail within 15 s")
	}
	var m [][]byte
	for range 50 { // the file may still be being written
		b, _ := os.ReadFile(mail)
		if m = otpLine.FindSubmatch(b); m != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		return "", "", fmt.Errorf("login: no OTP in %s", mail)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(biin+"-"+device+":"+string(m[1])))
	var ans struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := doJSON(ctx, http.DefaultClient, http.MethodPost, s.base+"/auth", nil, basic, &ans); err != nil {
		return "", "", err
	}
	if ans.RefreshToken == "" || ans.AccessToken == "" {
		return "", "", errors.New("login: no tokens in the answer")
	}
	return ans.RefreshToken, ans.AccessToken, nil
}

// doJSON sends body as JSON (when not nil) and decodes the envelope's data (the service) or the whole
// answer (PocketBase, envelope false) into out; anything but a 2xx is an error.
func doJSON(ctx context.Context, client *http.Client, method, url string, body any, auth string, out any) error {
	return doJSONEnv(ctx, client, method, url, body, auth, out, true)
}

func doJSONEnv(ctx context.Context, client *http.Client, method, url string, body any, auth string, out any, envelope bool) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %.500s", method, url, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if !envelope {
		return json.Unmarshal(raw, out)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return json.Unmarshal(env.Data, out)
}

// withPath returns rawURL with its path replaced: another database or bucket on the same server.
func withPath(rawURL, path string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("bad URL (check -pg / -s3)")
	}
	u.Path = path
	return u.String(), nil
}

// freshDatabase drops and creates database name on the server of adminURL and returns its URL.
func freshDatabase(ctx context.Context, adminURL, name string) (string, error) {
	if err := dropDatabase(ctx, adminURL, name); err != nil {
		return "", err
	}
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return withPath(adminURL, "/"+name)
}

func dropDatabase(ctx context.Context, adminURL, name string) error {
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	return err
}

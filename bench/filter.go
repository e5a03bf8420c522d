package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
	"github.com/gofiber/fiber/v2"
)

// The statements reports/store.go runs for the lists (copied: the service does not export them).
// Keep them in step when the store changes, or the SQL baseline measures something else.
const (
	reportColumns = `r.id, r.ref_key, r.report_number, r.contract_number, r.date_start, r.date_finish, r.status_code,
	r.reject_reason, v.guid AS vehicle_guid, v.vin_code, v.plate_number, t.ref_key AS vehicle_type_code`
	reportJoins = `FROM reports r JOIN vehicles v ON v.id = r.vehicle_id JOIN vehicle_types t ON t.id = v.vehicle_type_id`
	priority    = `CASE r2.status_code WHEN 4 THEN 0 WHEN 1 THEN 1 WHEN 2 THEN 2 ELSE 3 END`

	listAllSQL = `SELECT ` + reportColumns + ` ` + reportJoins + ` WHERE r.company_id = $1
		ORDER BY r.date_start DESC, r.id DESC LIMIT $2 OFFSET $3`
	listStatusSinceSQL = `SELECT ` + reportColumns + ` ` + reportJoins + ` WHERE r.company_id = $1 AND r.status_code = $2
		AND r.date_start >= $3 AND r.date_start <= $4 ORDER BY r.date_start DESC, r.id DESC LIMIT $5 OFFSET $6`
	// One index probe per vehicle, in plate order (byVehicle, without status or date filter).
	byVehicleSQL = `SELECT ` + reportColumns + `
		FROM vehicles v
		JOIN reports r ON r.id = (SELECT r2.id FROM reports r2 WHERE r2.vehicle_id = v.id
			ORDER BY ` + priority + `, r2.date_start DESC, r2.id DESC LIMIT 1)
		JOIN vehicle_types t ON t.id = v.vehicle_type_id
		WHERE v.company_id = $1
		ORDER BY v.plate_number, v.guid LIMIT $2 OFFSET $3`
	// The other statements of a list request. The access check (auth/store.go companyVersions, for a
	// session this instance has checked at the company's auth version) reads the list versions in the
	// same statement, so a cached answer costs this one statement; a cache miss adds the list, the types
	// and the filter block's vehicles (reports/answers.go fleetOf).
	versionsSQL = `SELECT COALESCE((SELECT version FROM auth_versions WHERE company_id = $1), 0) AS auth,
		COALESCE((SELECT reports + fleet FROM list_versions WHERE company_id = $1), 0) + 1 AS lists,
		COALESCE((SELECT fleet FROM list_versions WHERE company_id = $1), 0) + 1 AS fleet`
	typesSQL = `SELECT t.ref_key, t.title, t.instructions FROM vehicle_types t
		WHERE t.id IN (SELECT v.vehicle_type_id FROM vehicles v WHERE v.company_id = $1) ORDER BY t.title, t.ref_key`
	briefsSQL = `SELECT t.ref_key AS vehicle_type_code, v.guid, v.plate_number
		FROM vehicles v JOIN vehicle_types t ON t.id = v.vehicle_type_id
		WHERE v.company_id = $1 ORDER BY v.vehicle_type_id, v.plate_number, v.guid LIMIT $2`
)

// The service asks for one row more than the page (100) to know whether another page exists.
const pageRows = 101

// sqlStep is one statement with its arguments, computed per call (date ranges move with the clock).
type sqlStep struct {
	query string
	args  func() []any
}

// sqlCaller runs the steps one after another and reads every row, as the service's handler would.
func sqlCaller(db *sql.DB, steps ...sqlStep) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, s := range steps {
			if _, err := queryAll(ctx, db, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// fixed is a step's arguments that do not change between calls.
func fixed(args ...any) func() []any { return func() []any { return args } }

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryArgs runs one statement and reads every row.
func queryArgs(ctx context.Context, db queryer, query string, args ...any) (int, error) {
	return queryAll(ctx, db, sqlStep{query, fixed(args...)})
}

func queryAll(ctx context.Context, db queryer, s sqlStep) (int, error) {
	rows, err := db.QueryContext(ctx, s.query, s.args()...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// row is one line of the filter table.
type row struct {
	name      string
	s         kit.Stats
	size      int // bytes of one answer, for HTTP targets
	hwm, peak int64
	vsFiber   string
	vsSQL     string
	vsHit     string  // filter: service ÷ the raw SQL of a cache hit
	cpu       *cpuUse // suite: where the CPU went during the measured window
}

func runFilter(ctx context.Context, o options) error {
	r, err := setup(ctx, o)
	if err != nil {
		return err
	}
	defer r.close()

	seeded, err := seedFilter(ctx, r)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	token, err := r.login(ctx, kit.BIIN(0))
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}

	b, err := startBaselines(ctx, r)
	if err != nil {
		return err
	}
	defer b.close()
	db, companyID, fb, fbBase := b.db, b.companyID, b.fiber, b.fiberBase
	list := sqlStep{listAllSQL, fixed(companyID, pageRows, 0)}

	client := kit.NewLoadClient(o.clients, 30*time.Second)
	var rows []row
	var fiberRate float64
	kit.Logf("driving the bare Fiber baseline for %s…", o.duration)
	{
		rss := sampleRSS(fb.PID())
		s := measure(ctx, o, kit.Getter(client, fbBase+"/baseline", "Bearer "+token))
		hwm, peak := rss.finish()
		fiberRate = s.Rate()
		rows = append(rows, row{name: "baseline: bare Fiber GET /baseline (fixed JSON)", s: s, size: answerSize(ctx, client, fbBase+"/baseline", token), hwm: hwm, peak: peak})
	}

	// Nothing writes while the targets run, so the service answers them from its answer cache: a hit costs
	// the one statement of the access check (the company's versions). Every write to a report, a vehicle
	// or a type makes the next request of each list a miss, which runs all 4 statements.
	session := sqlStep{versionsSQL, fixed(companyID)}
	kit.Logf("driving raw SQL, the one statement of a cache hit…")
	hit := measure(ctx, o, sqlCaller(db, session))
	rows = append(rows, row{name: "baseline: raw SQL, a cache hit (the access check, which reads the list versions)", s: hit})

	targets := []struct {
		path string
		sql  []sqlStep
		full []sqlStep // every statement of one request on a cache miss, when worth measuring
	}{
		{"/reports/general/filter/null/null/null", []sqlStep{list}, []sqlStep{
			session, list, {typesSQL, fixed(companyID)}, {briefsSQL, fixed(companyID, 500)},
		}},
		{"/reports/general/filter/1/1m", []sqlStep{{listStatusSinceSQL, func() []any {
			now := time.Now().UTC()
			return []any{companyID, 1, now.AddDate(0, -1, 0), now, pageRows, 0}
		}}}, nil},
		{"/reports/vehicle/filter", []sqlStep{{byVehicleSQL, fixed(companyID, pageRows, 0)}}, nil},
	}
	var general row
	for _, t := range targets {
		if n, err := queryAll(ctx, db, t.sql[0]); err != nil || n == 0 {
			return fmt.Errorf("SQL baseline of %s: %d rows, %v", t.path, n, err)
		}
		kit.Logf("driving raw SQL for %s…", t.path)
		sqlStats := measure(ctx, o, sqlCaller(db, t.sql...))
		rows = append(rows, row{name: "baseline: raw SQL, the list query of " + t.path, s: sqlStats})
		if t.full != nil {
			kit.Logf("driving raw SQL, every statement of %s…", t.path)
			s := measure(ctx, o, sqlCaller(db, t.full...))
			rows = append(rows, row{name: fmt.Sprintf("baseline: raw SQL, a cache miss of %s: all %d statements", t.path, len(t.full)), s: s})
		}

		url := r.svc.Base + t.path
		size := answerSize(ctx, client, url, token)
		if size < 0 {
			return fmt.Errorf("GET %s does not answer 200 (see %s)", t.path, filepath.Join(r.dir, "service.log"))
		}
		kit.Logf("driving the service: GET %s for %s…", t.path, o.duration)
		rss := sampleRSS(r.svc.PID())
		s := measure(ctx, o, kit.Getter(client, url, "Bearer "+token))
		hwm, peak := rss.finish()
		svc := row{name: "service: GET " + t.path, s: s, size: size, hwm: hwm, peak: peak,
			vsFiber: ratio(s.Rate(), fiberRate), vsSQL: ratio(s.Rate(), sqlStats.Rate()), vsHit: ratio(s.Rate(), hit.Rate())}
		rows = append(rows, svc)
		if general.name == "" {
			general = svc
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	fmt.Printf("\nfilter: %d clients, %s per target after %s warm-up (at most %d requests); the big company has %d vehicles and %d of %d reports\n",
		o.clients, o.duration, o.warmup, o.maxRequests, o.Vehicles, o.Reports, o.Total)
	fmt.Printf("seeding took %s: 1C API (types, %d companies) %s, vehicles (SQL) %s, reports (SQL) %s, VACUUM ANALYZE %s\n\n",
		seeded.total().Round(100*time.Millisecond), o.Companies, seeded.api.Round(time.Millisecond),
		seeded.vehicles.Round(time.Millisecond), seeded.reports.Round(time.Millisecond), seeded.analyze.Round(time.Millisecond))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "target\treq/s\tp50\tp99\terrors\tanswer\tVmHWM\tmax VmRSS\t÷ fiber\t÷ list sql\t÷ hit sql\t")
	for _, x := range rows {
		size := "-"
		if x.size > 0 {
			size = fmt.Sprintf("%d B", x.size)
		}
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.name, x.s.Rate(), kit.Ms(x.s.P50), kit.Ms(x.s.P99), x.s.Errs,
			size, kit.MiB(x.hwm), kit.MiB(x.peak), dash(x.vsFiber), dash(x.vsSQL), dash(x.vsHit))
	}
	w.Flush()
	for _, x := range rows {
		if x.s.FirstErr != nil {
			fmt.Printf("first error of %s: %v\n", x.name, x.s.FirstErr)
		}
	}
	fmt.Printf("\ntarget for %s: ≥ 5000 req/s and p99 < 20 ms at 64 clients, RSS < 100 MiB: %s\n", general.name,
		kit.Verdict(general.s.Rate() >= 5000 && general.s.P99 < 20*time.Millisecond && general.hwm < 100*1024 && general.s.Errs == 0))
	return nil
}

// baselines are what filter and suite measure the service against, once the bench has logged in as the
// big company's director: the bench database with the service's pool size, that company's id in it, and
// the bare Fiber child.
type baselines struct {
	db        *sql.DB
	companyID int64
	fiber     *kit.Proc
	fiberBase string // http://127.0.0.1:PORT
}

func startBaselines(ctx context.Context, r *rig) (*baselines, error) {
	db, err := benchDB(r.dbURL)
	if err != nil {
		return nil, err
	}
	b := &baselines{db: db}
	if err := db.QueryRowContext(ctx, `SELECT s.company_id FROM sessions s JOIN companies c ON c.id = s.company_id
		WHERE c.biin = $1 AND s.revoked_at IS NULL ORDER BY s.id DESC LIMIT 1`, kit.BIIN(0)).Scan(&b.companyID); err != nil {
		db.Close()
		return nil, fmt.Errorf("find the bench session: %w", err)
	}
	if b.fiber, b.fiberBase, err = startFiberBaseline(ctx, r.dir); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// close stops the Fiber child (when still running) and closes the database.
func (b *baselines) close() {
	_ = b.fiber.Stop()
	b.db.Close()
}

// answerSize GETs url once and returns the answer's size, or -1 when it is not a 200.
func answerSize(ctx context.Context, client *http.Client, url, token string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return -1
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return -1
	}
	return len(b)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fiberBaselineCmd is the hidden scenario that serves the bare Fiber route in a child process, so the
// baseline runs beside the bench exactly as the service does.
const fiberBaselineCmd = "fiber-baseline"

func startFiberBaseline(ctx context.Context, dir string) (*kit.Proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	port, err := kit.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := kit.StartProc(self, []string{fiberBaselineCmd, addr}, nil, filepath.Join(dir, "fiber.log"))
	if err != nil {
		return nil, "", err
	}
	if err := p.WaitHTTP(ctx, "http://"+addr+"/baseline", 30*time.Second); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

// serveFiberBaseline answers GET /baseline with a small fixed JSON envelope until SIGTERM.
func serveFiberBaseline(addr string) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	answer := fiber.Map{"status": "ok", "data": fiber.Map{"code": 200, "message": "pong"}}
	app.Get("/baseline", func(c *fiber.Ctx) error { return c.JSON(answer) })
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	}()
	if err := app.Listen(addr); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

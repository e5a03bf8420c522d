package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", for the PostgreSQL side of the service
)

// svc is one running instance of the service, on SQLite or on PostgreSQL.
type svc struct {
	*kit.Service
	name, dbURL string
}

// startService starts bin in dir with dbURL ("sqlite://…" or "postgres://…") and the bucket of s3URL.
func startService(ctx context.Context, name, bin, dir, dbURL, s3URL string, uploadMax int64) (*svc, error) {
	s, err := kit.StartService(ctx, bin, dir, dbURL, s3URL, 2*time.Minute,
		// Logins are set-up here, not measured: the OTP limits are lifted so that 64 devices can log in.
		"FL_OTP_COOLDOWN=1ms", "FL_OTP_HOURLY_PER_BIN=100000000", "FL_OTP_HOURLY_PER_IP=100000000", "FL_OTP_DAILY_FAILURES=100000000",
		fmt.Sprintf("FL_UPLOAD_MAX_BYTES=%d", max(uploadMax, 64<<20)))
	if err != nil {
		return nil, err
	}
	return &svc{Service: s, name: name, dbURL: dbURL}, nil
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
		if err := s.Stop(); err != nil {
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
	return s.Start(ctx)
}

func (s *svc) seedAPI(ctx context.Context, f *fleet) error {
	if err := s.onec(ctx, http.MethodPut, "/1c/vehicle-types", kit.VehicleTypes); err != nil {
		return err
	}
	return s.onec(ctx, http.MethodPut, "/1c/companies", f.companies)
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
		if err := b.add(v.guid, companyID[f.companies[v.company].BIIN], typeID[kit.VehicleTypes[v.typ].RefKey], v.vin, v.plate,
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
		if err := b.add(r.refKey, companyID[f.companies[v.company].BIIN], vehicleID[v.guid], r.number, v.contract, r.start, r.finish,
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
	return kit.DoJSON(ctx, http.DefaultClient, method, s.Base+path, body, kit.OnecBasic(), nil)
}

// login logs device in as company 0's director and returns the refresh and access tokens.
func (s *svc) login(ctx context.Context, f *fleet, device string) (refresh, access string, err error) {
	return s.Login(ctx, http.DefaultClient, f.companies[0].BIIN, device)
}

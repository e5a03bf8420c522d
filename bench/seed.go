package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

// seedTimes says how long each part of seeding took.
type seedTimes struct{ api, vehicles, reports, analyze time.Duration }

func (t seedTimes) total() time.Duration { return t.api + t.vehicles + t.reports + t.analyze }

// seedFilter loads the filter scenario's data: companies and types through the 1C API as 1C would send
// them, then vehicles and reports straight into PostgreSQL with INSERT … SELECT generate_series, which
// takes a minute where a million 1C upserts would take an hour. Company 0 is the big one.
func seedFilter(ctx context.Context, r *rig) (seedTimes, error) {
	o := r.o
	kit.Logf("seeding %d companies, %d + %d vehicles, %d reports (%d for the big company)…",
		o.Companies, o.Vehicles, (o.Companies-1)*o.OtherVehicles, o.Total, o.Reports)
	var t seedTimes
	start := time.Now()
	companies := make([]kit.Company, o.Companies)
	for i := range companies {
		companies[i] = kit.SeedCompany(i)
	}
	if err := r.onec(ctx, "/1c/vehicle-types", kit.VehicleTypes); err != nil {
		return t, err
	}
	for i := 0; i < len(companies); i += 1000 {
		if err := r.onec(ctx, "/1c/companies", companies[i:min(i+1000, len(companies))]); err != nil {
			return t, err
		}
	}
	t.api = time.Since(start)

	db, err := sql.Open("pgx", r.dbURL)
	if err != nil {
		return t, err
	}
	defer db.Close()
	var big int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM companies WHERE biin = $1`, kit.BIIN(0)).Scan(&big); err != nil {
		return t, fmt.Errorf("find the big company: %w", err)
	}
	others := o.Companies - 1
	otherVehicles := others * o.OtherVehicles
	otherReports := o.Total - o.Reports
	if others < 1 || otherReports < 0 || o.Vehicles < 1 {
		return t, fmt.Errorf("need -companies ≥ 2, -vehicles ≥ 1 and -total ≥ -reports")
	}

	// Vehicles: the big company's fleet, then o.OtherVehicles for each other company; type by number.
	step := time.Now()
	const vehicleSQL = `
		WITH c AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM companies WHERE %s),
		     t AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM vehicle_types)
		INSERT INTO vehicles (guid, company_id, vehicle_type_id, vin_code, plate_number, contract_number,
			contract_date_end, data_version, created_at, updated_at)
		SELECT lpad(c.id::text, 8, '0') || '-0000-4000-8000-' || lpad(g::text, 12, '0'),
			c.id, t.id, 'XWB' || lpad(g::text, 14, '0'),
			lpad((g %% 1000)::text, 3, '0') || chr(65 + g %% 26) || chr(65 + (g / 26) %% 26) || chr(65 + (g / 676) %% 26) || '02',
			'№' || (g %% 700) || '/24 (ДЛ)', now() + (g %% 900) * interval '1 day', '1', now(), now()
		FROM generate_series(0, $1 - 1) g
		JOIN c ON c.n = g / $2
		JOIN t ON t.n = g %% (SELECT count(*) FROM vehicle_types)`
	if _, err := db.ExecContext(ctx, fmt.Sprintf(vehicleSQL, "id = $3"), o.Vehicles, o.Vehicles, big); err != nil {
		return t, fmt.Errorf("insert vehicles: %w", err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(vehicleSQL, "id <> $3"), otherVehicles, o.OtherVehicles, big); err != nil {
		return t, fmt.Errorf("insert vehicles: %w", err)
	}
	t.vehicles = time.Since(step)

	// Reports: round-robin over the vehicles (which gives each its company), start dates spread over the
	// last two years, statuses 1/2/3/4 at 10/10/70/10 % by a hash of the number so a vehicle gets a mix.
	step = time.Now()
	const reportSQL = `
		WITH v AS (SELECT id, company_id, contract_number, row_number() OVER (ORDER BY id) - 1 AS n FROM vehicles WHERE %s),
		     nv AS (SELECT count(*) AS n FROM v),
		     s AS (SELECT g, abs(hashint8(g)::bigint) %% 10 AS h, now() - ((g * 40503) %% (730 * 86400)) * interval '1 second' AS start
		           FROM generate_series($1::bigint, $1::bigint + $2 - 1) g)
		INSERT INTO reports (ref_key, company_id, vehicle_id, report_number, contract_number, date_start, date_finish,
			status_code, reject_reason, data_version, created_at, updated_at, change_seq)
		SELECT '00000000-0000-4000-9000-' || lpad(s.g::text, 12, '0'), v.company_id, v.id, 'ОС-' || lpad(s.g::text, 8, '0'),
			v.contract_number, s.start, s.start + interval '10 days',
			CASE WHEN s.h = 0 THEN 1 WHEN s.h = 1 THEN 2 WHEN s.h = 9 THEN 4 ELSE 3 END,
			CASE WHEN s.h = 9 THEN 'Не виден VIN-код' ELSE '' END, '1', s.start, s.start, s.g
		FROM s JOIN v ON v.n = s.g %% (SELECT n FROM nv)`
	if _, err := db.ExecContext(ctx, fmt.Sprintf(reportSQL, "company_id = $3"), 1, o.Reports, big); err != nil {
		return t, fmt.Errorf("insert reports: %w", err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(reportSQL, "company_id <> $3"), o.Reports+1, otherReports, big); err != nil {
		return t, fmt.Errorf("insert reports: %w", err)
	}
	// Later changes (uploads, 1C decisions) must number after the seeded ones.
	if _, err := db.ExecContext(ctx, `UPDATE change_counter SET value = (SELECT COALESCE(max(change_seq), 0) FROM reports)`); err != nil {
		return t, err
	}
	t.reports = time.Since(step)

	// What autovacuum would have done long before on a live database: statistics and visibility map.
	step = time.Now()
	for _, table := range []string{"companies", "vehicle_types", "vehicles", "reports"} {
		if _, err := db.ExecContext(ctx, `VACUUM ANALYZE `+table); err != nil {
			return t, err
		}
	}
	t.analyze = time.Since(step)
	kit.Logf("seeded in %s", t.total().Round(100*time.Millisecond))
	return t, nil
}

// seedUpload loads one company with one vehicle and n reports waiting for a video, all through the 1C API.
func seedUpload(ctx context.Context, r *rig, n int) (biin string, refKeys []string, err error) {
	c := kit.SeedCompany(0)
	biin = c.BIIN
	vehicle := map[string]any{
		"vehicle_guid": "00000000-0000-4000-8000-000000000001", "biin": biin, "vehicle_type_code": kit.VehicleTypes[0].RefKey,
		"vin_code": "XWB00000000000001", "plate_number": "001AAA02", "contract_number": "№1/24 (ДЛ)",
		"contract_date_end": "2030-01-01T00:00:00",
	}
	var reports []map[string]any
	now := time.Now()
	for i := range n {
		ref := fmt.Sprintf("00000000-0000-4000-a000-%012d", i+1)
		refKeys = append(refKeys, ref)
		reports = append(reports, map[string]any{
			"ref_key": ref, "report_number": fmt.Sprintf("ОС-%06d", i+1), "contract_number": "№1/24 (ДЛ)",
			"vehicle_guid": vehicle["vehicle_guid"], "status_code": 1,
			"date_start":  now.AddDate(0, 0, -1).Format("2006-01-02T15:04:05"),
			"date_finish": now.AddDate(0, 0, 9).Format("2006-01-02T15:04:05"),
		})
	}
	for _, step := range []struct {
		path  string
		items any
	}{
		{"/1c/vehicle-types", kit.VehicleTypes}, {"/1c/companies", []kit.Company{c}}, {"/1c/vehicles", []map[string]any{vehicle}},
	} {
		if err := r.onec(ctx, step.path, step.items); err != nil {
			return "", nil, err
		}
	}
	for i := 0; i < len(reports); i += 1000 { // 1C sends at most 1000 items per call
		if err := r.onec(ctx, "/1c/reports", reports[i:min(i+1000, len(reports))]); err != nil {
			return "", nil, err
		}
	}
	return biin, refKeys, nil
}

// seedFeedBlocks gives the seeded reports what the 1C feed shows beside them, straight into PostgreSQL as
// seedFilter does: every report past status 1 one upload by its company's director, with a finished VIN
// check and analysis (one warn reason), and every report its history (1C's task, the upload, 1C's verdict
// on 3 and 4). One transaction, so the service's reconcilers never see an upload without its check. The
// objects are not stored: the feed only signs their links.
func seedFeedBlocks(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, q := range []string{
		`INSERT INTO uploads (report_id, company_id, uploader_id, object_key, size, sha256, content_type, lat, lng, time_sent,
			odometer, created_at)
		SELECT r.id, r.company_id, us.id, 'reports/' || r.ref_key || '/bench.mp4', 67108864, md5(r.ref_key) || md5(r.ref_key || '.'),
			'video/mp4', 43.238949, 76.889709, r.date_start + interval '1 hour', 100000 + r.id, r.date_start + interval '1 hour'
		FROM reports r JOIN users us ON us.company_id = r.company_id AND us.role = 1
		WHERE r.status_code >= 2`,
		`INSERT INTO vin_checks (upload_id, report_id, status, provider, vin_expected, vin_found, facts, odometer, attempts,
			created_at, checked_at)
		SELECT u.id, u.report_id, 'match', 'okpock', v.vin_code, v.vin_code, '{"mark":"LEXUS","model":"IS300","year":2007}', '', 1,
			u.created_at, u.created_at + interval '1 minute'
		FROM uploads u JOIN reports r ON r.id = u.report_id JOIN vehicles v ON v.id = r.vehicle_id`,
		`INSERT INTO authenticity_checks (upload_id, report_id, status, verdict, file, reasons, runs, created_at, checked_at)
		SELECT u.id, u.report_id, 'done', 'warn',
			'{"read":true,"duration_s":31.2,"width":1920,"height":1080,"recorded_at":"' || to_char(u.created_at - interval '20 minutes', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
			'","location":{"lat":43.238949,"long":76.889709},"make":"Apple","model":"iPhone 15","software":"17.3","encoders":[]}',
			'[{"code":"clock_skew","level":"warn","message":"Часы телефона расходятся с сервером на 20 минут","facts":{"skew_s":1200}}]',
			2, u.created_at, u.created_at + interval '2 minutes'
		FROM uploads u`,
		`INSERT INTO report_events (report_id, status_code, reject_reason, actor, created_at)
		SELECT r.id, 1, '', '1c', r.created_at FROM reports r`,
		`INSERT INTO report_events (report_id, status_code, reject_reason, actor, created_at)
		SELECT u.report_id, 2, '', 'user:' || u.uploader_id, u.created_at FROM uploads u`,
		`INSERT INTO report_events (report_id, status_code, reject_reason, actor, created_at)
		SELECT r.id, r.status_code, r.reject_reason, '1c', r.created_at + interval '1 day' FROM reports r WHERE r.status_code IN (3, 4)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, table := range []string{"uploads", "vin_checks", "authenticity_checks", "report_events", "users"} {
		if _, err := db.ExecContext(ctx, `VACUUM ANALYZE `+table); err != nil {
			return err
		}
	}
	return nil
}

package onec

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/reports"
)

// Store holds every query of the 1C feature.
type Store struct{ db *database.DB }

func NewStore(db *database.DB) *Store { return &Store{db: db} }

func (s *Store) upsertCompanies(ctx context.Context, items []Company, now time.Time) (Result, error) {
	var res Result
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res = Result{}
		for _, c := range items {
			var stored struct {
				ID          int64  `db:"id"`
				DataVersion string `db:"data_version"`
			}
			err := tx.GetContext(ctx, &stored, `SELECT id, data_version FROM companies WHERE biin = $1`, c.BIIN)
			if err != nil && !database.IsNoRows(err) {
				return err
			}
			if err == nil && c.DataVersion.olderThan(stored.DataVersion) {
				res.Skipped++
				continue
			}
			active := c.Active == nil || *c.Active
			var id int64
			if err := tx.QueryRowxContext(ctx, `
				INSERT INTO companies (biin, name, email, active, data_version, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6)
				ON CONFLICT (biin) DO UPDATE SET name = excluded.name, email = excluded.email, active = excluded.active,
					data_version = excluded.data_version, updated_at = excluded.updated_at
				RETURNING id`, c.BIIN, c.Name, c.Email, active, string(c.DataVersion), now).Scan(&id); err != nil {
				return err
			}
			d := c.Director
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO users (company_id, role, first_name, last_name, patronic_name, mobile, active, created_at, updated_at)
				VALUES ($1, 1, $2, $3, $4, $5, TRUE, $6, $6)
				ON CONFLICT (company_id) WHERE role = 1 DO UPDATE SET first_name = excluded.first_name,
					last_name = excluded.last_name, patronic_name = excluded.patronic_name, mobile = excluded.mobile,
					updated_at = excluded.updated_at`,
				id, d.FirstName, d.LastName, d.PatronicName, d.Mobile, now); err != nil {
				return err
			}
			// The company may have been deactivated: every instance checks its sessions in full again.
			if err := auth.BumpAuthVersion(ctx, tx, id); err != nil {
				return err
			}
			res.Upserted++
		}
		return nil
	})
	return res, err
}

type versioned struct {
	ID          int64  `db:"id"`
	DataVersion string `db:"data_version"`
}

// stored returns the row's id and version, or ok=false when the key is new.
func stored(ctx context.Context, tx *sqlx.Tx, table, keyCol, key string) (versioned, bool, error) {
	var v versioned
	err := tx.GetContext(ctx, &v, `SELECT id, data_version FROM `+table+` WHERE `+keyCol+` = $1`, key)
	if database.IsNoRows(err) {
		return versioned{}, false, nil
	}
	return v, err == nil, err
}

func (s *Store) upsertVehicleTypes(ctx context.Context, items []VehicleType, now time.Time) (Result, error) {
	var res Result
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res = Result{}
		// Types are part of every company's report lists: their caches must rebuild.
		if _, err := reports.NextChange(ctx, tx); err != nil {
			return err
		}
		if err := reports.BumpEveryFleet(ctx, tx); err != nil {
			return err
		}
		for _, t := range items {
			old, found, err := stored(ctx, tx, "vehicle_types", "ref_key", t.RefKey)
			if err != nil {
				return err
			}
			if found && t.DataVersion.olderThan(old.DataVersion) {
				res.Skipped++
				continue
			}
			instructions, err := json.Marshal(t.Instructions)
			if err != nil {
				return err
			}
			// COALESCE keeps the stored image when the item carries none.
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO vehicle_types (ref_key, title, instructions, image_png, image_etag, data_version, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
				ON CONFLICT (ref_key) DO UPDATE SET title = excluded.title, instructions = excluded.instructions,
					image_png = COALESCE(excluded.image_png, vehicle_types.image_png),
					image_etag = CASE WHEN excluded.image_png IS NULL THEN vehicle_types.image_etag ELSE excluded.image_etag END,
					data_version = excluded.data_version, updated_at = excluded.updated_at`,
				t.RefKey, t.Title, string(instructions), t.image, t.etag, string(t.DataVersion), now); err != nil {
				return err
			}
			res.Upserted++
		}
		return nil
	})
	return res, err
}

func (s *Store) upsertVehicles(ctx context.Context, items []Vehicle, now time.Time) (Result, error) {
	var res Result
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res = Result{}
		// Vehicles are part of every report list: a new change number tells the lists' caches, and
		// stamps the reports of a vehicle that moved so the feed shows them under their new company.
		seq, err := reports.NextChange(ctx, tx)
		if err != nil {
			return err
		}
		var fields apperr.FieldList
		var touched []int64 // companies whose fleet changed: the vehicles' new and old ones
		for i, v := range items {
			var companyID, typeID int64
			if err := tx.GetContext(ctx, &companyID, `SELECT id FROM companies WHERE biin = $1`, v.BIIN); database.IsNoRows(err) {
				fields.AddAt(i, "biin", "no company with this BIN/IIN; send it to /1c/companies first")
			} else if err != nil {
				return err
			}
			if err := tx.GetContext(ctx, &typeID, `SELECT id FROM vehicle_types WHERE ref_key = $1`, v.VehicleTypeCode); database.IsNoRows(err) {
				fields.AddAt(i, "vehicle_type_code", "no vehicle type with this ref_key; send it to /1c/vehicle-types first")
			} else if err != nil {
				return err
			}
			if companyID == 0 || typeID == 0 {
				continue
			}
			old, found, err := stored(ctx, tx, "vehicles", "guid", v.VehicleGUID)
			if err != nil {
				return err
			}
			if found && v.DataVersion.olderThan(old.DataVersion) {
				res.Skipped++
				continue
			}
			if found { // a vehicle moving away changes its old company's lists too
				var before int64
				if err := tx.GetContext(ctx, &before, `SELECT company_id FROM vehicles WHERE id = $1`, old.ID); err != nil {
					return err
				}
				touched = append(touched, before)
			}
			var id int64
			if err := tx.QueryRowxContext(ctx, `
				INSERT INTO vehicles (guid, company_id, vehicle_type_id, vin_code, plate_number, contract_number, contract_date_end,
					data_version, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
				ON CONFLICT (guid) DO UPDATE SET company_id = excluded.company_id, vehicle_type_id = excluded.vehicle_type_id,
					vin_code = excluded.vin_code, plate_number = excluded.plate_number, contract_number = excluded.contract_number,
					contract_date_end = excluded.contract_date_end, data_version = excluded.data_version, updated_at = excluded.updated_at
				RETURNING id`,
				v.VehicleGUID, companyID, typeID, v.VINCode, v.PlateNumber, v.ContractNumber, v.contractEnd, string(v.DataVersion), now,
			).Scan(&id); err != nil {
				return err
			}
			// A vehicle moved to another company takes its reports along (reports repeat company_id for indexing).
			if _, err := tx.ExecContext(ctx, `UPDATE reports SET company_id = $2, change_seq = $3 WHERE vehicle_id = $1 AND company_id <> $2`, id, companyID, seq); err != nil {
				return err
			}
			touched = append(touched, companyID)
			res.Upserted++
		}
		if err := fields.Err(apperr.Unprocessable, "some items refer to unknown companies or types; nothing was written"); err != nil {
			return err
		}
		return reports.BumpFleet(ctx, tx, touched...)
	})
	return res, err
}

// The new tasks are handed to also in the same transaction (the notifications).
func (s *Store) upsertReports(ctx context.Context, items []Report, now time.Time, also func(*sql.Tx, []NewTask) error) (Result, []NewTask, error) {
	var res Result
	var tasks []NewTask
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, tasks = Result{}, nil
		var fields apperr.FieldList
		var touched []int64 // companies whose reports changed
		for i, r := range items {
			var vehicle struct {
				ID        int64 `db:"id"`
				CompanyID int64 `db:"company_id"`
			}
			err := tx.GetContext(ctx, &vehicle, `SELECT id, company_id FROM vehicles WHERE guid = $1`, r.VehicleGUID)
			if database.IsNoRows(err) {
				fields.AddAt(i, "vehicle_guid", "no vehicle with this guid; send it to /1c/vehicles first")
				continue
			}
			if err != nil {
				return err
			}
			var old struct {
				DataVersion  string `db:"data_version"`
				StatusCode   int    `db:"status_code"`
				RejectReason string `db:"reject_reason"`
				CompanyID    int64  `db:"company_id"`
			}
			err = tx.GetContext(ctx, &old, `SELECT data_version, status_code, reject_reason, company_id FROM reports WHERE ref_key = $1`, r.RefKey)
			found := err == nil
			if err != nil && !database.IsNoRows(err) {
				return err
			}
			if found && r.DataVersion.olderThan(old.DataVersion) {
				res.Skipped++
				continue
			}
			status := r.StatusCode
			// A report the app has submitted waits for 1C's decision: a batch still saying "to submit"
			// predates the upload and must not hide it.
			if found && old.StatusCode == reports.StatusSent && status == reports.StatusToSubmit {
				status = reports.StatusSent
			}
			seq, err := reports.NextChange(ctx, tx)
			if err != nil {
				return err
			}
			reason := strings.TrimSpace(r.RejectReason)
			var reportID int64
			if err := tx.QueryRowxContext(ctx, `
				INSERT INTO reports (ref_key, company_id, vehicle_id, report_number, contract_number, date_start, date_finish,
					status_code, reject_reason, data_version, created_at, updated_at, change_seq)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
				ON CONFLICT (ref_key) DO UPDATE SET company_id = excluded.company_id, vehicle_id = excluded.vehicle_id,
					report_number = excluded.report_number, contract_number = excluded.contract_number,
					date_start = excluded.date_start, date_finish = excluded.date_finish, status_code = excluded.status_code,
					reject_reason = excluded.reject_reason, data_version = excluded.data_version, updated_at = excluded.updated_at,
					change_seq = excluded.change_seq
				RETURNING id`,
				r.RefKey, vehicle.CompanyID, vehicle.ID, r.ReportNumber, r.ContractNumber, r.start, r.finish,
				status, reason, string(r.DataVersion), now, seq).Scan(&reportID); err != nil {
				return err
			}
			if !found || old.StatusCode != status || old.RejectReason != reason {
				if err := reports.RecordEvent(ctx, tx, reportID, status, reason, "1c", now); err != nil {
					return err
				}
			}
			if !found && status == reports.StatusToSubmit {
				tasks = append(tasks, NewTask{CompanyID: vehicle.CompanyID, RefKey: r.RefKey, ReportNumber: r.ReportNumber})
			}
			touched = append(touched, vehicle.CompanyID, old.CompanyID) // old is 0 for a new report
			res.Upserted++
		}
		if err := fields.Err(apperr.Unprocessable, "some items refer to unknown vehicles; nothing was written"); err != nil {
			return err
		}
		if err := reports.BumpReports(ctx, tx, touched...); err != nil {
			return err
		}
		if len(tasks) == 0 {
			return nil
		}
		return also(tx.Tx, tasks)
	})
	return res, tasks, err
}

type feedRow struct {
	ID             int64
	RefKey         string
	ReportNumber   string
	ContractNumber string
	DateStart      time.Time
	DateFinish     time.Time
	StatusCode     int
	RejectReason   string
	ChangeSeq      int64
	UpdatedAt      time.Time
	BIIN           string
	VehicleGUID    string
	VINCode        string
	PlateNumber    string
	ContractEnd    *time.Time
	// Upload is the report's newest upload, nil without one; Analysis is that upload's analysis.
	Upload   *feedUploadRow
	Analysis inspections.StoredAnalysis
	// Check is the report's newest VIN check, nil without one.
	Check   *inspections.StoredVINCheck
	History []eventRow
}

type feedUploadRow struct {
	ObjectKey  string
	Size       int64
	SHA256     string
	Lat        float64
	Lng        float64
	TimeSent   time.Time
	Odometer   *int64
	CreatedAt  time.Time
	UploaderID int64
	FirstName  string
	Mobile     string
}

type eventRow struct {
	StatusCode   int    `json:"s"`
	RejectReason string `json:"r"`
	Actor        string `json:"a"`
	At           string `json:"t"` // as the database writes a timestamp into JSON; see storedTime
	CreatedAt    time.Time
}

// feedSelect is a page of the feed, or the review page's report, in one statement: each report with its
// company and vehicle, its newest upload and uploader, that upload's analysis, its newest VIN check and
// its whole history, oldest first. The feed reads the checks' and analyses' rows itself, and the
// features that write them say what they mean (inspections.VINChecks, AuthenticityChecks): the four
// follow-up reads a page once made were 41 % of its CPU. Every join is to at most one row, so LIMIT
// counts reports. The %s are the dialect's parts (feedDialect) and the WHERE clause with what follows.
const feedSelect = `
	SELECT r.id, r.ref_key, r.report_number, r.contract_number, r.date_start, r.date_finish, r.status_code,
		r.reject_reason, r.change_seq, r.updated_at, c.biin, v.guid, v.vin_code, v.plate_number, v.contract_date_end,
		u.id, u.object_key, u.size, u.sha256, u.lat, u.lng, u.time_sent, u.odometer, u.created_at, u.uploader_id,
		us.first_name, us.mobile, a.status, a.file, a.reasons, a.checked_at,
		vc.id, vc.status, vc.provider, vc.vin_expected, vc.vin_found, vc.facts, vc.odometer, vc.checked_at,
		(SELECT %s FROM report_events e WHERE e.report_id = r.id)
	FROM reports r JOIN companies c ON c.id = r.company_id JOIN vehicles v ON v.id = r.vehicle_id
	%s
	LEFT JOIN users us ON us.id = u.uploader_id
	LEFT JOIN authenticity_checks a ON a.upload_id = u.id
	%s
	WHERE %s`

// feedDialect is, per dialect, a report's history as one JSON array (oldest entry first; NULL or []
// without one), then the joins to its newest upload and newest VIN check. PostgreSQL does not look a
// row up by a correlated subquery in ON (the page ran at 0.6 of the five statements' rate in bench
// suite), so it joins LATERAL, which SQLite lacks; SQLite looks the row up by the subquery's max(id).
var feedDialect = map[string][3]string{
	database.Postgres: {
		`json_agg(json_build_object('s', e.status_code, 'r', e.reject_reason, 'a', e.actor, 't', e.created_at) ORDER BY e.id)`,
		`LEFT JOIN LATERAL (SELECT * FROM uploads WHERE report_id = r.id ORDER BY id DESC LIMIT 1) u ON TRUE`,
		`LEFT JOIN LATERAL (SELECT * FROM vin_checks WHERE report_id = r.id ORDER BY id DESC LIMIT 1) vc ON TRUE`,
	},
	database.SQLite: {
		`json_group_array(json_object('s', e.status_code, 'r', e.reject_reason, 'a', e.actor, 't', e.created_at) ORDER BY e.id)`,
		`LEFT JOIN uploads u ON u.id = (SELECT max(id) FROM uploads WHERE report_id = r.id)`,
		`LEFT JOIN vin_checks vc ON vc.id = (SELECT max(id) FROM vin_checks WHERE report_id = r.id)`,
	},
}

func (s *Store) feedQuery(where string) string {
	d := feedDialect[s.db.Dialect]
	return fmt.Sprintf(feedSelect, d[0], d[1], d[2], where)
}

// The feed's two statements: with and without the status filter.
const (
	feedAfter       = `r.change_seq > $1 ORDER BY r.change_seq LIMIT $2`
	feedStatusAfter = `r.change_seq > $1 AND r.status_code = $3 ORDER BY r.change_seq LIMIT $2`
	feedByRef       = `r.ref_key = $1`
)

func (s *Store) feed(ctx context.Context, q FeedQuery) ([]feedRow, error) {
	where, args := feedAfter, []any{q.After, q.Limit}
	if q.Status != 0 {
		where, args = feedStatusAfter, append(args, q.Status)
	}
	rows := make([]feedRow, 0, q.Limit)
	err := s.db.EachPrepared(ctx, func(r *sql.Rows) error {
		row, err := scanFeedRow(r)
		rows = append(rows, row)
		return err
	}, s.feedQuery(where), args...)
	return rows, err
}

// reportByRef is one report as the feed shows it, for the review page.
func (s *Store) reportByRef(ctx context.Context, refKey string) (feedRow, error) {
	var row feedRow
	found := false
	err := s.db.EachPrepared(ctx, func(r *sql.Rows) error {
		var err error
		row, err = scanFeedRow(r)
		found = true
		return err
	}, s.feedQuery(feedByRef), refKey)
	if err == nil && !found {
		return row, apperr.New(apperr.NotFound, "report_not_found", "no report with this ref_key")
	}
	return row, err
}

func scanFeedRow(rows *sql.Rows) (feedRow, error) {
	var r feedRow
	var (
		uploadID, size, odometer, uploaderID sql.NullInt64
		objectKey, sha, firstName, mobile    sql.NullString
		lat, lng                             sql.NullFloat64
		timeSent, uploadedAt                 sql.NullTime
		aStatus, aFile, aReasons             sql.NullString
		aChecked                             sql.NullTime
		checkID                              sql.NullInt64
		cStatus, cProvider, cExpected        sql.NullString
		cFound, cFacts, cOdometer            sql.NullString
		cChecked                             sql.NullTime
		history                              []byte
	)
	if err := rows.Scan(&r.ID, &r.RefKey, &r.ReportNumber, &r.ContractNumber, &r.DateStart, &r.DateFinish, &r.StatusCode,
		&r.RejectReason, &r.ChangeSeq, &r.UpdatedAt, &r.BIIN, &r.VehicleGUID, &r.VINCode, &r.PlateNumber, &r.ContractEnd,
		&uploadID, &objectKey, &size, &sha, &lat, &lng, &timeSent, &odometer, &uploadedAt, &uploaderID,
		&firstName, &mobile, &aStatus, &aFile, &aReasons, &aChecked,
		&checkID, &cStatus, &cProvider, &cExpected, &cFound, &cFacts, &cOdometer, &cChecked,
		&history); err != nil {
		return r, err
	}
	if uploadID.Valid {
		r.Upload = &feedUploadRow{ObjectKey: objectKey.String, Size: size.Int64, SHA256: sha.String, Lat: lat.Float64,
			Lng: lng.Float64, TimeSent: timeSent.Time, CreatedAt: uploadedAt.Time, UploaderID: uploaderID.Int64,
			FirstName: firstName.String, Mobile: mobile.String}
		if odometer.Valid {
			km := odometer.Int64
			r.Upload.Odometer = &km
		}
		r.Analysis = inspections.StoredAnalysis{Status: aStatus.String, File: aFile.String, Reasons: aReasons.String,
			CheckedAt: timeOrNil(aChecked)}
	}
	if checkID.Valid {
		r.Check = &inspections.StoredVINCheck{Status: cStatus.String, Provider: cProvider.String, VINExpected: cExpected.String,
			VINFound: cFound.String, Facts: cFacts.String, Odometer: cOdometer.String, CheckedAt: timeOrNil(cChecked)}
	}
	if len(history) > 0 {
		if err := json.Unmarshal(history, &r.History); err != nil {
			return r, fmt.Errorf("history of report %d: %w", r.ID, err)
		}
		for i := range r.History {
			t, err := storedTime(r.History[i].At)
			if err != nil {
				return r, fmt.Errorf("history of report %d: %w", r.ID, err)
			}
			r.History[i].CreatedAt = t
		}
	}
	return r, nil
}

func timeOrNil(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// storedTime reads a timestamp as the database wrote it into JSON: PostgreSQL's ISO 8601, or the text
// the SQLite driver stores (_time_format=sqlite).
func storedTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02 15:04:05.999999999-07:00", s)
}

// decide moves a report from status 2 to 1C's verdict, with its history entry, in one transaction.
// Then, in the same transaction, also runs (the notifications).
func (s *Store) decide(ctx context.Context, d Decision, now time.Time, also func(*sql.Tx, Decided) error) (Decided, error) {
	res := Decided{Decision: d}
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		seq, err := reports.NextChange(ctx, tx)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowxContext(ctx, `
			UPDATE reports SET status_code = $2, reject_reason = $3, change_seq = $4, updated_at = $5
			WHERE ref_key = $1 AND status_code = 2 RETURNING id, company_id, report_number`,
			d.RefKey, d.StatusCode, d.RejectReason, seq, now).Scan(&id, &res.CompanyID, &res.ReportNumber)
		if database.IsNoRows(err) {
			var status int
			if err := tx.GetContext(ctx, &status, `SELECT status_code FROM reports WHERE ref_key = $1`, d.RefKey); database.IsNoRows(err) {
				return apperr.New(apperr.NotFound, "report_not_found", "no such report")
			} else if err != nil {
				return err
			}
			return apperr.New(apperr.Conflict, "report_not_submitted", "only a report in status 2 (sent) can be decided; this one is in status %d", status)
		}
		if err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &res.UploaderID, `SELECT uploader_id FROM uploads WHERE report_id = $1 ORDER BY id DESC LIMIT 1`, id); err != nil && !database.IsNoRows(err) {
			return err
		}
		if err := reports.BumpReports(ctx, tx, res.CompanyID); err != nil {
			return err
		}
		if err := reports.RecordEvent(ctx, tx, id, d.StatusCode, d.RejectReason, "1c", now); err != nil {
			return err
		}
		return also(tx.Tx, res)
	})
	return res, err
}

// authBlockedUntil returns when the block of ip ends, or the zero time when ip may try to log in.
func (s *Store) authBlockedUntil(ctx context.Context, ip string, max int, now time.Time) (time.Time, error) {
	var ends int64
	err := s.db.GetContext(ctx, &ends, `SELECT window_ends_ms FROM onec_auth_failures
		WHERE client_ip = $1 AND failures >= $2 AND window_ends_ms > $3`, ip, max, now.UnixMilli())
	if database.IsNoRows(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ends).UTC(), nil
}

// recordAuthFailure counts one failed login of ip in one statement, starting a new window when the last
// one has ended, and returns the count so far and when the window ends. Concurrent failures on any
// instance each get their own count.
func (s *Store) recordAuthFailure(ctx context.Context, ip string, now time.Time, window time.Duration) (int, time.Time, error) {
	var row struct {
		Failures int   `db:"failures"`
		Ends     int64 `db:"window_ends_ms"`
	}
	err := s.db.GetContext(ctx, &row, `
		INSERT INTO onec_auth_failures (client_ip, failures, window_ends_ms) VALUES ($1, 1, $2)
		ON CONFLICT (client_ip) DO UPDATE SET
			failures = CASE WHEN onec_auth_failures.window_ends_ms <= $3 THEN 1 ELSE onec_auth_failures.failures + 1 END,
			window_ends_ms = CASE WHEN onec_auth_failures.window_ends_ms <= $3 THEN $2 ELSE onec_auth_failures.window_ends_ms END
		RETURNING failures, window_ends_ms`, ip, now.Add(window).UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, time.Time{}, err
	}
	return row.Failures, time.UnixMilli(row.Ends).UTC(), nil
}

// PurgeAuthFailures forgets windows that ended before now.
func (s *Store) PurgeAuthFailures(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM onec_auth_failures WHERE window_ends_ms < $1`, now.UnixMilli())
	return err
}

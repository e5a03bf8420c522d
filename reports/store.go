package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
)

// Store holds every query of the reports feature. Each one is scoped by company_id in SQL.
type Store struct{ db *database.DB }

func NewStore(db *database.DB) *Store { return &Store{db: db} }

type reportRow struct {
	ID              int64     `db:"id"`
	RefKey          string    `db:"ref_key"`
	ReportNumber    string    `db:"report_number"`
	ContractNumber  string    `db:"contract_number"`
	DateStart       time.Time `db:"date_start"`
	DateFinish      time.Time `db:"date_finish"`
	StatusCode      int       `db:"status_code"`
	RejectReason    string    `db:"reject_reason"`
	VehicleGUID     string    `db:"vehicle_guid"`
	VINCode         string    `db:"vin_code"`
	PlateNumber     string    `db:"plate_number"`
	VehicleTypeCode string    `db:"vehicle_type_code"`
}

// query assembles a statement with $n placeholders, so optional filters add plain conditions
// (which keep the planner on the company indexes) instead of "$2 = 0 OR ..." tricks.
type query struct {
	where []string
	args  []any
}

func (q *query) add(cond string, args ...any) {
	for _, a := range args {
		q.args = append(q.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(q.args)), 1)
	}
	q.where = append(q.where, cond)
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func scoped(companyID int64, f resolvedFilter) *query {
	q := &query{}
	q.add("r.company_id = ?", companyID)
	if f.Status != 0 {
		q.add("r.status_code = ?", f.Status)
	}
	if f.HasSince {
		q.add("r.date_start >= ? AND r.date_start <= ?", f.Since, f.Until)
	}
	if f.VehicleID != 0 {
		q.add("r.vehicle_id = ?", f.VehicleID)
	}
	return q
}

// resolvedFilter is a Filter with the vehicle looked up and the date range turned into instants.
type resolvedFilter struct {
	Status       int
	HasSince     bool
	Since, Until time.Time
	VehicleID    int64
	Limit        int
	Offset       int
}

const reportColumns = `r.id, r.ref_key, r.report_number, r.contract_number, r.date_start, r.date_finish, r.status_code,
	r.reject_reason, v.guid AS vehicle_guid, v.vin_code, v.plate_number, t.ref_key AS vehicle_type_code`

const reportJoins = `FROM reports r JOIN vehicles v ON v.id = r.vehicle_id JOIN vehicle_types t ON t.id = v.vehicle_type_id`

// listsVersions reads the company's list versions (migration 00020).
func (s *Store) listsVersions(ctx context.Context, companyID int64) (versions, error) {
	var v struct {
		Lists int64 `db:"lists_version"`
		Fleet int64 `db:"fleet_version"`
	}
	err := s.db.GetPrepared(ctx, &v, `SELECT COALESCE(SUM(reports + fleet), 0) + 1 AS lists_version,
		COALESCE(SUM(fleet), 0) + 1 AS fleet_version FROM list_versions WHERE company_id = $1`, companyID)
	return versions{lists: v.Lists, fleet: v.Fleet}, err
}

// list returns the company's reports, newest date_start first.
func (s *Store) list(ctx context.Context, companyID int64, f resolvedFilter) ([]reportRow, error) {
	q := scoped(companyID, f)
	sql := `SELECT ` + reportColumns + ` ` + reportJoins + ` WHERE ` + strings.Join(q.where, " AND ") +
		` ORDER BY r.date_start DESC, r.id DESC LIMIT ` + q.arg(f.Limit) + ` OFFSET ` + q.arg(f.Offset)
	var rows []reportRow
	return rows, s.db.SelectContext(ctx, &rows, sql, q.args...)
}

// priority orders a vehicle's reports for the vehicle filter: rejected, to submit, sent, approved.
// It is written exactly as in the reports_vehicle_priority index, so the planner can use it.
const priority = `CASE r2.status_code WHEN 4 THEN 0 WHEN 1 THEN 1 WHEN 2 THEN 2 ELSE 3 END`

// byVehicle walks the company's vehicles in plate order and returns, for each vehicle with a matching
// report, its most important one (ties to the newest). Each vehicle costs one index probe, so a page
// costs its size, not the company's whole history.
func (s *Store) byVehicle(ctx context.Context, companyID int64, f resolvedFilter) ([]reportRow, error) {
	q := &query{}
	q.add("r2.vehicle_id = v.id")
	if f.Status != 0 {
		q.add("r2.status_code = ?", f.Status)
	}
	if f.HasSince {
		q.add("r2.date_start >= ? AND r2.date_start <= ?", f.Since, f.Until)
	}
	top := `SELECT r2.id FROM reports r2 WHERE ` + strings.Join(q.where, " AND ") +
		` ORDER BY ` + priority + `, r2.date_start DESC, r2.id DESC LIMIT 1`
	sql := `SELECT ` + reportColumns + `
		FROM vehicles v
		JOIN reports r ON r.id = (` + top + `)
		JOIN vehicle_types t ON t.id = v.vehicle_type_id
		WHERE v.company_id = ` + q.arg(companyID) + `
		ORDER BY v.plate_number, v.guid LIMIT ` + q.arg(f.Limit) + ` OFFSET ` + q.arg(f.Offset)
	var rows []reportRow
	return rows, s.db.SelectContext(ctx, &rows, sql, q.args...)
}

type vehicleRow struct {
	ID              int64      `db:"id"`
	GUID            string     `db:"guid"`
	VINCode         string     `db:"vin_code"`
	PlateNumber     string     `db:"plate_number"`
	ContractNumber  string     `db:"contract_number"`
	ContractDateEnd *time.Time `db:"contract_date_end"`
	TypeCode        string     `db:"vehicle_type_code"`
}

// vehicle finds one of the company's vehicles; another company's guid is simply not found.
func (s *Store) vehicle(ctx context.Context, companyID int64, guid string) (vehicleRow, error) {
	var v vehicleRow
	err := s.db.GetContext(ctx, &v, `
		SELECT v.id, v.guid, v.vin_code, v.plate_number, v.contract_number, v.contract_date_end, t.ref_key AS vehicle_type_code
		FROM vehicles v JOIN vehicle_types t ON t.id = v.vehicle_type_id
		WHERE v.company_id = $1 AND v.guid = $2`, companyID, guid)
	if database.IsNoRows(err) {
		return vehicleRow{}, apperr.New(apperr.NotFound, "vehicle_not_found", "no such vehicle")
	}
	return v, err
}

type typeRow struct {
	RefKey       string `db:"ref_key"`
	Title        string `db:"title"`
	Instructions string `db:"instructions"`
}

// types returns the vehicle types of the company's vehicles, or of one vehicle.
func (s *Store) types(ctx context.Context, companyID, vehicleID int64) (map[string]TypeInfo, []string, error) {
	q := `SELECT t.ref_key, t.title, t.instructions FROM vehicle_types t
		WHERE t.id IN (SELECT v.vehicle_type_id FROM vehicles v WHERE v.company_id = $1`
	args := []any{companyID}
	if vehicleID != 0 {
		q += ` AND v.id = $2`
		args = append(args, vehicleID)
	}
	q += `) ORDER BY t.title, t.ref_key`
	var rows []typeRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, nil, err
	}
	out := make(map[string]TypeInfo, len(rows))
	order := make([]string, 0, len(rows))
	for _, r := range rows {
		var in Instructions
		if err := json.Unmarshal([]byte(r.Instructions), &in); err != nil {
			return nil, nil, fmt.Errorf("reports: instructions of type %s: %w", r.RefKey, err)
		}
		out[r.RefKey] = TypeInfo{VehicleTypeTitle: r.Title, Instructions: &in}
		order = append(order, r.RefKey)
	}
	return out, order, nil
}

type briefRow struct {
	TypeCode    string `db:"vehicle_type_code"`
	GUID        string `db:"guid"`
	PlateNumber string `db:"plate_number"`
}

// vehicleBriefs lists up to limit of the company's vehicles for the filter block.
func (s *Store) vehicleBriefs(ctx context.Context, companyID int64, limit int) ([]briefRow, error) {
	var rows []briefRow
	err := s.db.SelectContext(ctx, &rows, `
		SELECT t.ref_key AS vehicle_type_code, v.guid, v.plate_number
		FROM vehicles v JOIN vehicle_types t ON t.id = v.vehicle_type_id
		WHERE v.company_id = $1 ORDER BY v.vehicle_type_id, v.plate_number, v.guid LIMIT $2`, companyID, limit)
	return rows, err
}

// uploadTarget is what an upload needs to know about its report before and while committing.
type uploadTarget struct {
	ID         int64 `db:"id"`
	StatusCode int   `db:"status_code"`
}

// uploadTarget finds the company's report; another company's ref_key is not found.
func (s *Store) uploadTarget(ctx context.Context, companyID int64, refKey string) (uploadTarget, error) {
	var t uploadTarget
	err := s.db.GetContext(ctx, &t, `SELECT id, status_code FROM reports WHERE company_id = $1 AND ref_key = $2`, companyID, refKey)
	if database.IsNoRows(err) {
		return t, errReportNotFound
	}
	return t, err
}

var errReportNotFound = apperr.New(apperr.NotFound, "report_not_found", "no such report")

// uploadByKey finds an earlier upload by the same user with the same Idempotency-Key.
func (s *Store) uploadByKey(ctx context.Context, uploaderID int64, key string) (bool, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, `SELECT id FROM uploads WHERE uploader_id = $1 AND idempotency_key = $2`, uploaderID, key)
	if database.IsNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

type uploadRow struct {
	ReportID       int64      `db:"report_id"`
	CompanyID      int64      `db:"company_id"`
	UploaderID     int64      `db:"uploader_id"`
	IdempotencyKey *string    `db:"idempotency_key"`
	ObjectKey      string     `db:"object_key"`
	Size           int64      `db:"size"`
	SHA256         string     `db:"sha256"`
	ContentType    string     `db:"content_type"`
	Lat            float64    `db:"lat"`
	Lng            float64    `db:"lng"`
	TimeSent       time.Time  `db:"time_sent"`
	Odometer       *int64     `db:"odometer"`
	CreatedAt      time.Time  `db:"created_at"`
	StartedAt      *time.Time `db:"started_at"`
}

// commitUpload switches the report to "sent" and records the upload in one transaction. It fails with
// a conflict when the report left status 1 or 4 meanwhile, e.g. because a concurrent upload won.
// Then, in the same transaction, also runs (the upload hooks).
//
// The upload row goes in before the report is updated: a racing retry with the same Idempotency-Key
// then waits on the key's unique index for the first transaction and fails with a unique violation
// (the caller finds the first outcome), instead of waiting on the report's row and seeing status 2.
func (s *Store) commitUpload(ctx context.Context, refKey string, u uploadRow, also func(*sqlx.Tx, inspections.Upload) error) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &u.ReportID, `SELECT id FROM reports WHERE company_id = $1 AND ref_key = $2`, u.CompanyID, refKey)
		if database.IsNoRows(err) {
			return errNotUploadable
		}
		if err != nil {
			return err
		}
		_, err = tx.NamedExecContext(ctx, `
			INSERT INTO uploads (report_id, company_id, uploader_id, idempotency_key, object_key, size, sha256, content_type,
				lat, lng, time_sent, odometer, created_at, started_at)
			VALUES (:report_id, :company_id, :uploader_id, :idempotency_key, :object_key, :size, :sha256, :content_type,
				:lat, :lng, :time_sent, :odometer, :created_at, :started_at)`, u)
		if err != nil {
			return err
		}
		var uploadID int64
		if err := tx.GetContext(ctx, &uploadID, `SELECT id FROM uploads WHERE object_key = $1`, u.ObjectKey); err != nil {
			return err
		}
		// The change counter, then the company's list versions: the order of every writer (1C batches and
		// decisions too), so that two transactions never wait for each other's rows in a cycle (the other
		// order deadlocked uploads against 1C upserts on PostgreSQL in bench soak).
		seq, err := NextChange(ctx, tx)
		if err != nil {
			return err
		}
		if err := BumpReports(ctx, tx, u.CompanyID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE reports SET status_code = 2, reject_reason = '', updated_at = $2, change_seq = $3
			WHERE id = $1 AND status_code IN (1, 4)`, u.ReportID, u.CreatedAt, seq)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errNotUploadable
		}
		if err := RecordEvent(ctx, tx, u.ReportID, StatusSent, "", fmt.Sprintf("user:%d", u.UploaderID), u.CreatedAt); err != nil {
			return err
		}
		return also(tx, inspections.Upload{ID: uploadID, ReportID: u.ReportID, CompanyID: u.CompanyID, UploaderID: u.UploaderID,
			RefKey: refKey, ObjectKey: u.ObjectKey, Size: u.Size, SHA256: u.SHA256})
	})
}

// committedAs returns the object key of the upload this user already committed with idempotencyKey,
// or of the upload of objectKey itself; "" when there is none.
func (s *Store) committedAs(ctx context.Context, uploaderID int64, idempotencyKey, objectKey string) (string, error) {
	var key string
	err := s.db.GetContext(ctx, &key, `
		SELECT object_key FROM uploads
		WHERE (uploader_id = $1 AND idempotency_key = $2) OR object_key = $3
		ORDER BY id LIMIT 1`, uploaderID, idempotencyKey, objectKey)
	if database.IsNoRows(err) {
		return "", nil
	}
	return key, err
}

var errNotUploadable = apperr.New(apperr.Conflict, "report_not_awaiting_video", "this report does not wait for a video (only status 1 or 4 does)")

// recordedObject reports whether an upload row points at key, for the orphan sweeper.
func (s *Store) recordedObject(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM uploads WHERE object_key = $1`, key)
	return n > 0, err
}

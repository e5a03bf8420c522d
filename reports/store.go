package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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

// list returns the company's reports, newest date_start first.
func (s *Store) list(ctx context.Context, companyID int64, f resolvedFilter) ([]reportRow, error) {
	q := scoped(companyID, f)
	sql := `SELECT ` + reportColumns + ` ` + reportJoins + ` WHERE ` + strings.Join(q.where, " AND ") +
		` ORDER BY r.date_start DESC, r.id DESC LIMIT ` + q.arg(f.Limit) + ` OFFSET ` + q.arg(f.Offset)
	var rows []reportRow
	return rows, s.db.SelectContext(ctx, &rows, sql, q.args...)
}

// priority orders a vehicle's reports for the vehicle filter: rejected, to submit, sent, approved.
const priority = `CASE r.status_code WHEN 4 THEN 0 WHEN 1 THEN 1 WHEN 2 THEN 2 ELSE 3 END`

// byVehicle returns one row per vehicle: its most important report, ties going to the newest.
func (s *Store) byVehicle(ctx context.Context, companyID int64, f resolvedFilter) ([]reportRow, error) {
	q := scoped(companyID, f)
	sql := `SELECT id, ref_key, report_number, contract_number, date_start, date_finish, status_code, reject_reason,
			vehicle_guid, vin_code, plate_number, vehicle_type_code
		FROM (SELECT ` + reportColumns + `, ` + priority + ` AS prio,
				ROW_NUMBER() OVER (PARTITION BY r.vehicle_id ORDER BY ` + priority + `, r.date_start DESC, r.id DESC) AS rn
			` + reportJoins + ` WHERE ` + strings.Join(q.where, " AND ") + `) ranked
		WHERE rn = 1 ORDER BY prio, date_start DESC, id DESC LIMIT ` + q.arg(f.Limit) + ` OFFSET ` + q.arg(f.Offset)
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
		WHERE v.company_id = $1 ORDER BY t.ref_key, v.plate_number, v.guid LIMIT $2`, companyID, limit)
	return rows, err
}

package vincheck

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/vehicles/provider"
)

// Store holds every query of the VIN checks.
type Store struct{ db *database.DB }

func NewStore(db *database.DB) *Store { return &Store{db: db} }

// addPending records a pending check of an upload inside its transaction.
func (s *Store) addPending(ctx context.Context, tx *sql.Tx, uploadID, reportID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO vin_checks (upload_id, report_id, status, created_at)
		VALUES ($1, $2, 'pending', $3) ON CONFLICT (upload_id) DO NOTHING`, uploadID, reportID, now)
	return err
}

// input gathers what the check of one upload needs, with the odometer registration of an earlier try.
func (s *Store) input(ctx context.Context, uploadID int64) (Input, error) {
	var row struct {
		RefKey     string         `db:"ref_key"`
		VIN        string         `db:"vin_code"`
		Plate      string         `db:"plate_number"`
		Odometer   sql.NullInt64  `db:"odometer"`
		Registered sql.NullString `db:"registered"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT r.ref_key, v.vin_code, v.plate_number, u.odometer, c.odometer AS registered
		FROM uploads u JOIN reports r ON r.id = u.report_id JOIN vehicles v ON v.id = r.vehicle_id
		LEFT JOIN vin_checks c ON c.upload_id = u.id
		WHERE u.id = $1`, uploadID)
	if err != nil {
		return Input{}, err
	}
	in := Input{RefKey: row.RefKey, VINExpected: row.VIN, Plate: row.Plate}
	if row.Odometer.Valid {
		km := float64(row.Odometer.Int64)
		in.Odometer = &km
	}
	if row.Registered.String != "" {
		if err := json.Unmarshal([]byte(row.Registered.String), &in.Registered); err != nil {
			return Input{}, fmt.Errorf("vin check of upload %d: stored odometer: %w", uploadID, err)
		}
	}
	return in, nil
}

// save stores a finished (or, with status pending, a retried) check of an upload; also, when not nil,
// runs in the same transaction after it.
func (s *Store) save(ctx context.Context, uploadID int64, r Result, attempts int, also func(*sql.Tx) error) error {
	facts, err := json.Marshal(r.Facts)
	if err != nil {
		return err
	}
	odometer := ""
	if r.Odometer != nil {
		b, err := json.Marshal(r.Odometer)
		if err != nil {
			return err
		}
		odometer = string(b)
	}
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE vin_checks SET status = $2, provider = $3, vin_expected = $4, vin_found = $5,
			facts = $6, odometer = $7, attempts = $8, checked_at = $9 WHERE upload_id = $1`,
			uploadID, r.Status, r.Provider, r.VINExpected, r.VINFound, string(facts), odometer, attempts, r.CheckedAt); err != nil {
			return err
		}
		if also == nil {
			return nil
		}
		return also(tx.Tx)
	})
}

type checkRow struct {
	ReportID    int64        `db:"report_id"`
	Status      string       `db:"status"`
	Provider    string       `db:"provider"`
	VINExpected string       `db:"vin_expected"`
	VINFound    string       `db:"vin_found"`
	Facts       string       `db:"facts"`
	Odometer    string       `db:"odometer"`
	CheckedAt   sql.NullTime `db:"checked_at"`
}

func (c checkRow) result() Result {
	r := Result{Status: c.Status, Provider: c.Provider, VINExpected: c.VINExpected, VINFound: c.VINFound, Facts: map[string]any{}}
	_ = json.Unmarshal([]byte(c.Facts), &r.Facts)
	if c.Odometer != "" {
		_ = json.Unmarshal([]byte(c.Odometer), &r.Odometer)
	}
	if c.CheckedAt.Valid {
		t := c.CheckedAt.Time.UTC()
		r.CheckedAt = &t
	}
	return r
}

// latest returns the newest check of each of the reports that has one.
func (s *Store) latest(ctx context.Context, reportIDs []int64) (map[int64]Result, error) {
	out := map[int64]Result{}
	if len(reportIDs) == 0 {
		return out, nil
	}
	in, args := inList(1, reportIDs)
	var rows []checkRow
	err := s.db.SelectContext(ctx, &rows, `SELECT report_id, status, provider, vin_expected, vin_found, facts, odometer, checked_at
		FROM vin_checks WHERE report_id IN (`+in+`) ORDER BY report_id, id`, args...)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ReportID] = r.result() // ordered by id: the newest is written last
	}
	return out, nil
}

// vehicle returns the VIN and plate 1C holds for a vehicle.
func (s *Store) vehicle(ctx context.Context, guid string) (vin, plate string, err error) {
	var row struct {
		VIN   string `db:"vin_code"`
		Plate string `db:"plate_number"`
	}
	err = s.db.GetContext(ctx, &row, `SELECT vin_code, plate_number FROM vehicles WHERE guid = $1`, guid)
	if database.IsNoRows(err) {
		return "", "", apperr.New(apperr.NotFound, "vehicle_not_found", "no vehicle with this guid")
	}
	return row.VIN, row.Plate, err
}

// saveCallback keeps a result the VAG history service posted back.
func (s *Store) saveCallback(ctx context.Context, c provider.CallbackResult, payload []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO vagvin_results (check_id, vin, status, payload, received_at)
		VALUES ($1, $2, $3, $4, $5)`, c.CheckID, c.VIN, c.Status, string(payload), now)
	return err
}

// inList spells ids as placeholders $first, $first+1, … for an IN (…) list, with their arguments.
func inList(first int, ids []int64) (string, []any) {
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		marks[i], args[i] = "$"+strconv.Itoa(first+i), id
	}
	return strings.Join(marks, ", "), args
}

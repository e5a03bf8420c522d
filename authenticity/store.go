package authenticity

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/database"
)

// Store holds every query of the analysis. It reads the upload, its report, vehicle and type; it
// writes only authenticity_checks, and has the reports feature stamp the report changed (so 1C's feed
// shows the verdict).
type Store struct {
	db      *database.DB
	changes inspections.ReportChanges
}

func NewStore(db *database.DB, changes inspections.ReportChanges) *Store {
	return &Store{db: db, changes: changes}
}

// EnsurePending records a pending analysis of an upload, in the caller's transaction (the upload's).
func EnsurePending(ctx context.Context, tx sqlx.ExecerContext, uploadID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO authenticity_checks (upload_id, report_id, status, created_at)
		SELECT u.id, u.report_id, 'pending', $2 FROM uploads u WHERE u.id = $1
		ON CONFLICT (upload_id) DO NOTHING`, uploadID, now)
	return err
}

// upload is what the analysis of one upload starts from.
type upload struct {
	ID           int64         `db:"id"`
	ReportID     int64         `db:"report_id"`
	VehicleID    int64         `db:"vehicle_id"`
	ObjectKey    string        `db:"object_key"`
	Size         int64         `db:"size"`
	SHA256       string        `db:"sha256"`
	Lat          float64       `db:"lat"`
	Lng          float64       `db:"lng"`
	TimeSent     time.Time     `db:"time_sent"`
	Odometer     sql.NullInt64 `db:"odometer"`
	CreatedAt    time.Time     `db:"created_at"`
	StartedAt    sql.NullTime  `db:"started_at"`
	DateStart    time.Time     `db:"date_start"`
	Instructions string        `db:"instructions"`
	File         string        `db:"file"`
	Reasons      string        `db:"reasons"`
}

func (s *Store) upload(ctx context.Context, uploadID int64) (upload, error) {
	var u upload
	err := s.db.GetContext(ctx, &u, `SELECT u.id, u.report_id, r.vehicle_id, u.object_key, u.size, u.sha256, u.lat, u.lng,
			u.time_sent, u.odometer, u.created_at, u.started_at, r.date_start, t.instructions,
			COALESCE(a.file, '') AS file, COALESCE(a.reasons, '[]') AS reasons
		FROM uploads u JOIN reports r ON r.id = u.report_id JOIN vehicles v ON v.id = r.vehicle_id
		JOIN vehicle_types t ON t.id = v.vehicle_type_id
		LEFT JOIN authenticity_checks a ON a.upload_id = u.id
		WHERE u.id = $1`, uploadID)
	return u, err
}

// receivedAt is the server's receipt time clock_skew compares time_sent with: when the upload began
// to arrive (a tus upload's creation), or, for uploads recorded before that was kept, when it was recorded.
func (u upload) receivedAt() time.Time {
	if u.StartedAt.Valid {
		return u.StartedAt.Time
	}
	return u.CreatedAt
}

func (u upload) instructionCount() int {
	var steps []json.RawMessage
	if json.Unmarshal([]byte(u.Instructions), &steps) != nil {
		return 0
	}
	return len(steps)
}

// duplicates lists the other reports with an earlier upload of the same content: the later upload is
// the reused one.
func (s *Store) duplicates(ctx context.Context, sha string, reportID, uploadID int64) ([]string, error) {
	refs := []string{}
	err := s.db.SelectContext(ctx, &refs, `SELECT DISTINCT r.ref_key FROM uploads u JOIN reports r ON r.id = u.report_id
		WHERE u.sha256 = $1 AND u.report_id <> $2 AND u.id < $3 ORDER BY r.ref_key LIMIT 10`, sha, reportID, uploadID)
	return refs, err
}

// priorOdometer is the highest reading sent with an earlier upload of the same vehicle.
func (s *Store) priorOdometer(ctx context.Context, vehicleID, uploadID int64) (*int64, string, error) {
	var row struct {
		Odometer int64  `db:"odometer"`
		RefKey   string `db:"ref_key"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT u.odometer, r.ref_key FROM uploads u JOIN reports r ON r.id = u.report_id
		WHERE r.vehicle_id = $1 AND u.id < $2 AND u.odometer IS NOT NULL
		ORDER BY u.odometer DESC, u.id DESC LIMIT 1`, vehicleID, uploadID)
	if database.IsNoRows(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &row.Odometer, row.RefKey, nil
}

// save evaluates and stores under the analysis row's lock, so that evaluations of one upload run one
// after another and the last one stored is the one that saw the newest VIN check; evaluate reads the
// facts it weighs only once the lock is held. save moves the report's change sequence, so the 1C feed
// shows the report again, runs complete (the job's completion) last, and returns the reason codes the
// previous evaluation already had.
func (s *Store) save(ctx context.Context, u upload, file File, now time.Time, evaluate func() ([]Reason, error), complete func(*sql.Tx) error) ([]Reason, map[string]bool, error) {
	fileJSON, err := json.Marshal(file)
	if err != nil {
		return nil, nil, err
	}
	var reasons []Reason
	var before map[string]bool
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// Uploads committed before this feature have no pending row.
		if err := EnsurePending(ctx, tx, u.ID, now); err != nil {
			return err
		}
		lock := `SELECT status, reasons FROM authenticity_checks WHERE upload_id = $1`
		if s.db.Dialect == database.Postgres {
			lock += ` FOR UPDATE` // SQLite's transactions take the write lock at BEGIN (IMMEDIATE)
		}
		var prev struct {
			Status  string `db:"status"`
			Reasons string `db:"reasons"`
		}
		if err := tx.GetContext(ctx, &prev, lock, u.ID); err != nil {
			return err
		}
		before = map[string]bool{}
		if prev.Status == "done" {
			var old []Reason
			_ = json.Unmarshal([]byte(prev.Reasons), &old)
			for _, r := range old {
				before[r.Code] = true
			}
		}
		var err error
		if reasons, err = evaluate(); err != nil {
			return err
		}
		reasonsJSON, err := json.Marshal(reasons)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE authenticity_checks SET status = 'done', verdict = $2, file = $3, reasons = $4,
			runs = runs + 1, checked_at = $5 WHERE upload_id = $1`,
			u.ID, string(VerdictOf(reasons)), string(fileJSON), string(reasonsJSON), now); err != nil {
			return err
		}
		if err := s.changes.ReportChanged(ctx, tx.Tx, u.ReportID); err != nil {
			return err
		}
		return complete(tx.Tx)
	})
	return reasons, before, err
}

// checkRow is a stored analysis as authenticity() reads it.
type checkRow struct {
	Status    string
	File      string
	Reasons   string
	CheckedAt sql.NullTime
}

// runs is how many evaluations an upload's analysis has stored (tests and the benchmark wait on it).
func (s *Store) runs(ctx context.Context, uploadID int64) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COALESCE(MAX(runs), 0) FROM authenticity_checks WHERE upload_id = $1`, uploadID)
	return n, err
}

package reports

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// NextChange takes the next number of the report change counter (migration 00004) inside tx.
// Every write that changes a report, and every 1C batch of vehicles or types, stamps it with this
// number: the 1C feed pages by it and the list caches compare against it.
func NextChange(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRowxContext(ctx, `UPDATE change_counter SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&seq)
	return seq, err
}

// RecordEvent appends a status change to a report's history inside tx.
func RecordEvent(ctx context.Context, tx *sqlx.Tx, reportID int64, status int, reason, actor string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO report_events (report_id, status_code, reject_reason, actor, created_at)
		VALUES ($1, $2, $3, $4, $5)`, reportID, status, reason, actor, at)
	return err
}

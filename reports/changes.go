package reports

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// NextChange takes the next number of the report change counter (migration 00004) inside tx.
// Every write that changes a report, and every 1C batch of vehicles or types, stamps it with this
// number: the 1C feed pages by it and the list caches compare against it.
func NextChange(ctx context.Context, tx *sqlx.Tx) (int64, error) { return nextChange(ctx, tx.Tx) }

func nextChange(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `UPDATE change_counter SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&seq)
	return seq, err
}

// Changes is the change counter for the features that reports itself depends on, through the root
// package (inspections.ReportChanges): the authenticity analysis stamps the report it evaluated.
type Changes struct{}

// ReportChanged stamps the report with the next change number inside tx: the 1C feed shows it again.
func (Changes) ReportChanged(ctx context.Context, tx *sql.Tx, reportID int64) error {
	seq, err := nextChange(ctx, tx)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE reports SET change_seq = $2 WHERE id = $1`, reportID, seq)
	return err
}

// RecordEvent appends a status change to a report's history inside tx.
func RecordEvent(ctx context.Context, tx *sqlx.Tx, reportID int64, status int, reason, actor string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO report_events (report_id, status_code, reject_reason, actor, created_at)
		VALUES ($1, $2, $3, $4, $5)`, reportID, status, reason, actor, at)
	return err
}

// BumpReports moves the report-list version of each company (migration 00020) inside tx: their cached
// lists are rebuilt on the next request. Every write to a company's reports calls it.
func BumpReports(ctx context.Context, tx *sqlx.Tx, companyIDs ...int64) error {
	return bump(ctx, tx, "reports", companyIDs)
}

// BumpFleet moves the fleet version of each company (its vehicles, their types): its cached types and
// filter block, and with them its lists, are rebuilt on the next request.
func BumpFleet(ctx context.Context, tx *sqlx.Tx, companyIDs ...int64) error {
	return bump(ctx, tx, "fleet", companyIDs)
}

// BumpEveryFleet moves the fleet version of every company: a vehicle type shows in all their lists.
func BumpEveryFleet(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO list_versions (company_id, fleet) SELECT id, 1 FROM companies WHERE TRUE
		ON CONFLICT (company_id) DO UPDATE SET fleet = list_versions.fleet + 1`)
	return err
}

func bump(ctx context.Context, tx *sqlx.Tx, column string, companyIDs []int64) error {
	ids := slices.Clone(companyIDs)
	slices.Sort(ids) // one order for every transaction: two batches never wait for each other's rows in a cycle
	for _, id := range slices.Compact(ids) {
		if id == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO list_versions (company_id, `+column+`) VALUES ($1, 1)
			ON CONFLICT (company_id) DO UPDATE SET `+column+` = list_versions.`+column+` + 1`, id); err != nil {
			return err
		}
	}
	return nil
}

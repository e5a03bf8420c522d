package database_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

func TestMigrations_UpDownUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		current, err := db.MigrationsCurrent(ctx)
		if err != nil || !current {
			t.Fatalf("after up: current=%v err=%v", current, err)
		}
		p, err := db.Migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 0); err != nil {
			t.Fatalf("down to 0: %v", err)
		}
		if current, _ := db.MigrationsCurrent(ctx); current {
			t.Fatal("migrations reported current after rolling back")
		}
		if err := db.MigrateUp(ctx); err != nil {
			t.Fatalf("up again: %v", err)
		}
	})
}

func TestErrors_ClassifiedByDriverCode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		ins := `INSERT INTO companies (biin, name, email, created_at, updated_at) VALUES ($1, 'n', 'e@x.kz', $2, $2)`
		if _, err := db.ExecContext(ctx, ins, "200940026146", now); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, ins, "200940026146", now)
		if !database.IsUniqueViolation(err) {
			t.Fatalf("duplicate BIN: want unique violation, got %v", err)
		}
		_, err = db.ExecContext(ctx, `INSERT INTO users (company_id, role, created_at, updated_at) VALUES (999, 1, $1, $1)`, now)
		if !database.IsForeignKeyViolation(err) {
			t.Fatalf("unknown company: want foreign-key violation, got %v", err)
		}
		if database.IsUnavailable(err) {
			t.Fatalf("a foreign-key violation is not the database being unavailable: %v", err)
		}
	})
}

// A statement that outlives statement_timeout (an overloaded server) is the database being
// unavailable, answered 503, not an internal error.
func TestErrors_StatementTimeoutIsUnavailable(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = 50`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_sleep(1)`)
	if !database.IsUnavailable(err) {
		t.Fatalf("a statement cut by statement_timeout: want unavailable, got %v", err)
	}
}

func TestTimes_OrderLikeTimesInSQLite(t *testing.T) {
	// SQLite compares timestamps as text: sub-second values must still sort by time.
	db := dbtest.SQLite(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 250 * time.Millisecond, time.Second} {
		_, err := db.ExecContext(ctx, `INSERT INTO otp_failures (biin, failed_at) VALUES ('b', $1)`, base.Add(d))
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM otp_failures WHERE failed_at > $1`, base.Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("rows after +300ms: got %d, want 2", n)
	}
}

// A migration waits for the locks it needs — here another instance's open transaction on every table,
// one of which the last migration alters or references — for longer than FL_DB_TIMEOUT, and still applies: the
// request bound (PostgreSQL's statement_timeout) is not a migration's. Calls on the pool stay bounded.
func TestMigrations_WaitForLocksLongerThanTheCallTimeout(t *testing.T) {
	ctx := context.Background()
	dbURL := dbtest.PostgresURL(t)
	const timeout = 200 * time.Millisecond
	db, err := database.OpenTimeout(ctx, dbURL, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// All but the last migration, unbounded like MigrateUp: on a busy machine one may take longer than
	// the 200 ms call timeout this test is about.
	if err := db.Migrating(func(p *goose.Provider) error {
		sources := p.ListSources()
		_, err := p.UpTo(ctx, sources[len(sources)-2].Version)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	other, err := database.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every table of the schema, so whichever the last migration alters (or references) must wait.
	var tables []string
	if err := tx.SelectContext(ctx, &tables, `SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()
		AND tablename <> 'goose_db_version' ORDER BY tablename`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+strings.Join(tables, ", ")+` IN ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	held := 4 * timeout
	release := time.AfterFunc(held, func() { _ = tx.Rollback() })
	defer release.Stop()

	start := time.Now()
	if err := db.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate up while a transaction holds companies for %s: %v", held, err)
	}
	if waited := time.Since(start); waited < held {
		t.Fatalf("the migration took %s: it did not wait for the lock (held %s)", waited, held)
	}
	if current, err := db.MigrationsCurrent(ctx); err != nil || !current {
		t.Fatalf("after up: current=%v err=%v", current, err)
	}

	// The pool keeps its bound.
	if _, err := db.ExecContext(ctx, `SELECT pg_sleep(1)`); err == nil {
		t.Fatal("a 1 s statement on the pool was not cut at the call timeout")
	}
}

// A COMMIT that failed may have taken effect, whatever the error says, unless the server answered that
// it rolled back: a deferred constraint that fails at COMMIT is a definite no.
func TestInTx_FailedCommitIsAnUnknownOutcomeUnlessRolledBack(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Postgres(t)
	if _, err := db.ExecContext(ctx, `CREATE TABLE deferred_t (id BIGINT PRIMARY KEY, parent BIGINT
		REFERENCES deferred_t (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deferred_t VALUES (1, 42)`) // checked at COMMIT
		return err
	})
	var ce *database.CommitError
	if !errors.As(err, &ce) || database.OutcomeUnknown(err) {
		t.Fatalf("a COMMIT the server rolled back: %v (unknown=%v), want a CommitError with a known outcome", err, database.OutcomeUnknown(err))
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM deferred_t`); err != nil || n != 0 {
		t.Fatalf("rows after the rolled-back commit: %d %v", n, err)
	}

	// Errors before COMMIT are known outcomes (nothing committed), but for a database that went away.
	if database.OutcomeUnknown(errors.New("report not found")) {
		t.Fatal("an error of fn's own is a known outcome")
	}
	if !database.OutcomeUnknown(&database.CommitError{Err: errors.New("conn closed")}) {
		t.Fatal("a COMMIT cut off by a broken connection is an unknown outcome")
	}
	if !database.OutcomeUnknown(fmt.Errorf("x: %w", context.DeadlineExceeded)) {
		t.Fatal("a transaction past its deadline is an unknown outcome")
	}
}

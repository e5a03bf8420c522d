package database_test

import (
	"context"
	"testing"
	"time"

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
	})
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

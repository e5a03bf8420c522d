package onec_test

import (
	"context"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// Rows written before keys were case-insensitive are lower-cased by migration 00015, except a key that
// already has a twin differing only by case; a contract end of year 1 (1C's empty date) becomes no date.
func TestMigration15_LowerCasesStoredKeysAndClearsEmptyDates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		p, err := db.Migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 14); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		yearOne := time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC+5", 5*3600)).UTC()
		end := time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO companies (id, biin, name, email, created_at, updated_at) VALUES (1, '200940026146', 'A', 'a@b.kz', $1, $1)`, []any{now}},
			{`INSERT INTO vehicle_types (id, ref_key, title, created_at, updated_at) VALUES (1, 'B71E9FF8-TYPE', 'T', $1, $1)`, []any{now}},
			{`INSERT INTO vehicles (id, guid, company_id, vehicle_type_id, contract_date_end, created_at, updated_at) VALUES (1, 'AB-VEHICLE', 1, 1, $1, $2, $2)`, []any{yearOne, now}},
			{`INSERT INTO vehicles (id, guid, company_id, vehicle_type_id, contract_date_end, created_at, updated_at) VALUES (2, 'Twin-Vehicle', 1, 1, $1, $2, $2)`, []any{end, now}},
			{`INSERT INTO vehicles (id, guid, company_id, vehicle_type_id, created_at, updated_at) VALUES (3, 'twin-vehicle', 1, 1, $1, $1)`, []any{now}},
			{`INSERT INTO reports (id, ref_key, company_id, vehicle_id, report_number, date_start, date_finish, status_code, created_at, updated_at)
				VALUES (1, 'REPORT-ONE', 1, 1, '1', $1, $1, 1, $1, $1)`, []any{now}},
		} {
			if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		if _, err := p.UpTo(ctx, 15); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			Guid string     `db:"guid"`
			End  *time.Time `db:"contract_date_end"`
		}
		if err := db.SelectContext(ctx, &got, `SELECT guid, contract_date_end FROM vehicles ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Guid != "ab-vehicle" || got[0].End != nil || got[1].Guid != "Twin-Vehicle" || got[1].End == nil ||
			!got[1].End.Equal(end) || got[2].Guid != "twin-vehicle" {
			t.Fatalf("vehicles after the migration: %+v", got)
		}
		var typeKey, reportKey string
		if err := db.GetContext(ctx, &typeKey, `SELECT ref_key FROM vehicle_types`); err != nil || typeKey != "b71e9ff8-type" {
			t.Fatalf("type key %q %v", typeKey, err)
		}
		if err := db.GetContext(ctx, &reportKey, `SELECT ref_key FROM reports`); err != nil || reportKey != "report-one" {
			t.Fatalf("report key %q %v", reportKey, err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

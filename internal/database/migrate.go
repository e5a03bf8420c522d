package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/forteleasing/inspections/migrations"
)

// Migrator runs the embedded migrations against db.
func (db *DB) Migrator() (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several instances starting at once: the advisory lock lets one migrate while the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.DB.DB, migrations.For(db.Dialect), opts...)
	if err != nil {
		return nil, fmt.Errorf("database: migrations: %w", err)
	}
	return p, nil
}

// MigrateUp applies every pending migration.
func (db *DB) MigrateUp(ctx context.Context) error {
	p, err := db.Migrator()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("database: migrate up: %w", err)
	}
	return nil
}

// MigrationsCurrent reports whether no migration is pending (for /readyz).
// CheckMigrations is the readiness check of the schema: an error when a migration is pending or the
// database cannot tell. A pooled connection broken by an outage fails once and is dropped, so a
// failure is tried again (at most three times) before it counts.
func (db *DB) CheckMigrations(ctx context.Context) error {
	var err error
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		var current bool
		if current, err = db.MigrationsCurrent(ctx); err == nil {
			if !current {
				return errors.New("pending")
			}
			return nil
		}
	}
	return err
}

func (db *DB) MigrationsCurrent(ctx context.Context) (bool, error) {
	p, err := db.Migrator()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	return !pending, err
}

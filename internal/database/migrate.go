package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/forteleasing/inspections/migrations"
)

// Migrator runs the embedded migrations on db's pool, whose calls are bounded by FL_DB_TIMEOUT: for
// reading the schema's state (readiness). Changing the schema goes through Migrating.
func (db *DB) Migrator() (*goose.Provider, error) { return db.migrator(db.DB.DB) }

// Migrating calls fn with a migrator whose statements have no timeout: a migration waits for the
// locks it needs (another instance's open transaction on a table it alters) and may run for minutes on
// a large table, where FL_DB_TIMEOUT is a request's bound. On PostgreSQL it runs on a pool of its own,
// opened from the URL without statement_timeout and closed afterwards; ctx still bounds it.
func (db *DB) Migrating(fn func(*goose.Provider) error) error {
	pool := db.DB.DB
	if db.Dialect == Postgres {
		var err error
		if pool, err = sql.Open("pgx", unboundedURL(db.url, db.timeout)); err != nil {
			return fmt.Errorf("database: open for migrations %s: %w", Redact(db.url), err)
		}
		defer pool.Close()
		pool.SetMaxOpenConns(2) // the session lock's connection and the migrations'
	}
	p, err := db.migrator(pool)
	if err != nil {
		return err
	}
	return fn(p)
}

func (db *DB) migrator(pool *sql.DB) (*goose.Provider, error) {
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
	p, err := goose.NewProvider(dialect, pool, migrations.For(db.Dialect), opts...)
	if err != nil {
		return nil, fmt.Errorf("database: migrations: %w", err)
	}
	return p, nil
}

// MigrateUp applies every pending migration.
func (db *DB) MigrateUp(ctx context.Context) error {
	return db.Migrating(func(p *goose.Provider) error {
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("database: migrate up: %w", err)
		}
		return nil
	})
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

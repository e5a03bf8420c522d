// Package dbtest gives tests a freshly migrated database of each dialect:
// SQLite always, PostgreSQL when FL_TEST_POSTGRES_URL is set (each test in its own schema).
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/testenv"
)

// PostgresURLEnv names the variable that points tests at a PostgreSQL server.
const PostgresURLEnv = "FL_TEST_POSTGRES_URL"

// Each runs fn once per available dialect, as subtests named "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, db *database.DB)) {
	t.Helper()
	t.Run(database.SQLite, func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run(database.Postgres, func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a migrated database in a temp directory.
func SQLite(t testing.TB) *database.DB {
	t.Helper()
	return open(t, "sqlite://"+filepath.Join(t.TempDir(), "test.db"))
}

// Postgres opens a migrated database in a schema of its own, dropped at cleanup; it skips without the URL.
func Postgres(t testing.TB) *database.DB {
	t.Helper()
	return open(t, PostgresURL(t))
}

// PostgresURL creates an empty schema, dropped at cleanup, and returns a URL whose connections use it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		testenv.Missing(t, "%s is not set: PostgreSQL store tests skipped (run `eval \"$(../shared/ci/start-services.sh)\"` or see README)", PostgresURLEnv)
	}
	ctx := context.Background()
	admin, err := database.Open(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresURLEnv, err)
	}
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	schema := "t_" + hex.EncodeToString(raw)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, rawURL string) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("open %s: %v", database.Redact(rawURL), err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// Package database opens the service's store — SQLite (pure Go, the dev default) or PostgreSQL (pgx) —
// runs the embedded migrations, and gives features transactions and driver-independent error checks.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialects the migrations know.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is a sqlx handle that knows its dialect. Queries use $1-style placeholders, which both drivers accept.
type DB struct {
	*sqlx.DB
	Dialect string
	stmts   sync.Map // query → *sqlx.Stmt, see Prepared
	timeout time.Duration
	url     string // as given, for Migrating
	// writer, on SQLite, admits one transaction at a time (see InTx); nil on PostgreSQL.
	writer chan struct{}
}

// Prepared returns query as a statement prepared on the pool and kept for the handle's life:
// database/sql prepares it once on each connection that runs it and reuses it from then on. Without it
// modernc's SQLite parses and plans every statement on every call — 30 % of a refresh's CPU against
// 14.5 % running them. On PostgreSQL it is the same as pgx's own per-connection statement cache (the
// default exec mode of its database/sql driver), which the plain calls use. For the hot statements.
func (db *DB) Prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	pctx, cancel := db.bound(ctx)
	defer cancel()
	st, err := db.PreparexContext(pctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// GetPrepared is GetContext through the statement cache (Prepared).
func (db *DB) GetPrepared(ctx context.Context, dest any, query string, args ...any) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	st, err := db.Prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// SelectPrepared is SelectContext through the statement cache (Prepared).
func (db *DB) SelectPrepared(ctx context.Context, dest any, query string, args ...any) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	st, err := db.Prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

// EachPrepared runs query through the statement cache (Prepared) and hands each row to scan, all
// within the call deadline: for hot reads that scan their columns by hand rather than by reflection.
func (db *DB) EachPrepared(ctx context.Context, scan func(*sql.Rows) error, query string, args ...any) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	st, err := db.Prepared(ctx, query)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ExecPrepared is ExecContext through the statement cache (Prepared).
func (db *DB) ExecPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	st, err := db.Prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// TxPrepared is query's cached statement bound to tx (database/sql reuses the one already prepared on
// the transaction's connection); it is closed with the transaction.
func (db *DB) TxPrepared(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	st, err := db.Prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtxContext(ctx, st), nil
}

// Close closes the cached statements and the pool.
func (db *DB) Close() error {
	db.stmts.Range(func(k, v any) bool {
		v.(*sqlx.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	return db.DB.Close()
}

// Open connects to rawURL: sqlite://PATH (":memory:" is not supported: use a temp file) or postgres://…,
// with DefaultTimeout on every call.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	return OpenTimeout(ctx, rawURL, DefaultTimeout)
}

// OpenTimeout is Open with timeout on every call (and as PostgreSQL's statement_timeout).
func OpenTimeout(ctx context.Context, rawURL string, timeout time.Duration) (*DB, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		path := strings.TrimPrefix(rawURL, "sqlite://")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			return nil, errors.New("database: sqlite:// needs a file path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("database: create directory for %s: %w", path, err)
		}
		// WAL lets readers run beside the writer; IMMEDIATE transactions take the write lock up front,
		// so two writers queue on busy_timeout instead of failing with SQLITE_BUSY halfway through.
		// Pages are read through a memory map (256 MiB of address space, not of memory): a commit makes
		// every other connection drop its page cache, and reading the pages back with pread was a
		// syscall per page for each read after a write.
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
			"&_pragma=synchronous(NORMAL)&_pragma=mmap_size(268435456)&_txlock=immediate&_time_format=sqlite"
		db, err := sqlx.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("database: open sqlite: %w", err)
		}
		db.SetMaxOpenConns(8)
		// All 8 stay open: with database/sql's default of 2 idle, a burst closed and reopened connections,
		// and every new one parsed the schema and prepared the statements again (29 % of a refresh's CPU).
		db.SetMaxIdleConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return ping(ctx, &DB{DB: db, Dialect: SQLite, timeout: timeout, url: rawURL, writer: make(chan struct{}, 1)})
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err := sqlx.Open("pgx", BoundedURL(rawURL, timeout))
		if err != nil {
			return nil, fmt.Errorf("database: open postgres %s: %w", Redact(rawURL), err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return ping(ctx, &DB{DB: db, Dialect: Postgres, timeout: timeout, url: rawURL})
	default:
		return nil, fmt.Errorf("database: FL_DATABASE_URL must start with sqlite:// or postgres://, got %q", Redact(rawURL))
	}
}

func ping(ctx context.Context, db *DB) (*DB, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: connect: %w", err)
	}
	return db, nil
}

// Redact hides the password of a database or store URL for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparseable url>"
	}
	return u.Redacted()
}

// InTx runs fn in a transaction, committing when fn returns nil.
// The whole transaction, commit included, carries the call deadline.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.Serialized(ctx, func() error { return db.inTx(ctx, fn) })
}

// Serialized runs fn, a write, when no other transaction of this handle runs on SQLite, which has one
// writer: a transaction or statement that finds it busy sleeps in busy_timeout's steps (1, 2, 5,
// 10… ms) before it tries again, and under concurrent refreshes most of a rotation's time went to those
// sleeps. Queued here, the next write starts the moment the last one ends and holds no connection while
// it waits. On PostgreSQL it just runs fn.
func (db *DB) Serialized(ctx context.Context, fn func() error) error {
	if db.writer == nil {
		return fn()
	}
	select {
	case db.writer <- struct{}{}:
		defer func() { <-db.writer }()
	case <-ctx.Done():
		return fmt.Errorf("database: waiting for the writer: %w", ctx.Err())
	}
	return fn()
}

func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return &CommitError{Err: err}
	}
	return nil
}

// A CommitError is a COMMIT that failed. Unless the database answered it (an error of PostgreSQL's or
// SQLite's, a ROLLBACK), whether the transaction took effect is unknown: the connection may have broken
// after COMMIT reached the server, so a caller holding what the transaction refers to (a stored
// video) must keep it.
type CommitError struct{ Err error }

func (e *CommitError) Error() string { return "database: commit: " + e.Err.Error() }
func (e *CommitError) Unwrap() error { return e.Err }

// OutcomeUnknown reports an error after which the transaction may or may not have committed: a
// failed COMMIT, or a database that went away or did not answer in time.
func OutcomeUnknown(err error) bool {
	var ce *CommitError
	if errors.As(err, &ce) {
		var pg *pgconn.PgError
		var se *sqlite.Error
		answered := errors.As(err, &pg) || errors.As(err, &se) || errors.Is(err, pgx.ErrTxCommitRollback)
		return !answered
	}
	return IsUnavailable(err) || errors.Is(err, context.Canceled)
}

// IsUniqueViolation reports a unique-constraint failure, by driver error code.
func IsUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsForeignKeyViolation reports a foreign-key failure, by driver error code.
func IsForeignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// IsNoRows reports sql.ErrNoRows.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// IsUnavailable reports an error that says the database could not be reached or went away — connection
// refused or reset, the server shutting down or not accepting connections yet, SQLite busy — rather
// than something wrong with the statement. Such a request may be retried; the HTTP layer answers 503.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now; 53300: too many
		// connections; 57014: cancelled, here by statement_timeout (the call deadline, as below).
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03" ||
			pg.Code == "53300" || pg.Code == "57014"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff // the primary result code
		// SQLITE_FULL and SQLITE_IOERR: the disk under the database is full or failing.
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED || code == sqlite3.SQLITE_FULL ||
			code == sqlite3.SQLITE_IOERR
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // the server did not answer within the call deadline: hung, overloaded or cut off
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connect) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

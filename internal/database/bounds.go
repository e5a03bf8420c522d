package database

import (
	"context"
	"database/sql"
	"net/url"
	"strconv"
	"time"
)

// DefaultTimeout bounds every database call (FL_DB_TIMEOUT): waiting for a pooled connection,
// connecting, and the statement itself. PostgreSQL also gets it as statement_timeout.
const DefaultTimeout = 5 * time.Second

// BoundedURL adds statement_timeout and connect_timeout to a PostgreSQL URL that does not set them,
// so that every pool opened from it (ours, River's) gives up on a slow statement or a silent server.
func BoundedURL(rawURL string, timeout time.Duration) string {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return rawURL
	}
	q := u.Query()
	if q.Get("statement_timeout") == "" {
		q.Set("statement_timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	}
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", strconv.Itoa(max(1, int(timeout.Seconds()))))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// unboundedURL is BoundedURL without a statement timeout, for migrations (see DB.Migrating): a
// statement_timeout in rawURL is overridden, connect_timeout kept.
func unboundedURL(rawURL string, timeout time.Duration) string {
	u, err := url.Parse(BoundedURL(rawURL, timeout))
	if err != nil {
		return rawURL
	}
	q := u.Query()
	q.Set("statement_timeout", "0")
	u.RawQuery = q.Encode()
	return u.String()
}

// bound gives ctx the call deadline unless it already has an earlier one.
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	t := db.timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= t {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, t)
}

// Timeout is the deadline each call gets.
func (db *DB) Timeout() time.Duration { return db.timeout }

// The calls features make on the handle carry the deadline, whatever context they are given (a
// request's, a worker's, a sweeper's). QueryRowx and Queryx hand back rows read later, so they keep
// the caller's context; transactions get theirs in InTx.

func (db *DB) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.DB.GetContext(ctx, dest, query, args...)
}

func (db *DB) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.DB.SelectContext(ctx, dest, query, args...)
}

func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.DB.ExecContext(ctx, query, args...)
}

func (db *DB) NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.DB.NamedExecContext(ctx, query, arg)
}

func (db *DB) PingContext(ctx context.Context) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.DB.PingContext(ctx)
}

// Get, Select and Exec without a context (tests, tools) are bounded too.
func (db *DB) Get(dest any, query string, args ...any) error {
	return db.GetContext(context.Background(), dest, query, args...)
}

func (db *DB) Select(dest any, query string, args ...any) error {
	return db.SelectContext(context.Background(), dest, query, args...)
}

package vincheck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/forteleasing/inspections/internal/database"
)

// Args is the River job of one upload's check. Unique by upload, not by report: enqueueing an upload
// twice runs its check once, while a report's second upload (after a rejection) is checked again.
type Args struct {
	UploadID int64 `json:"upload_id"`
}

func (Args) Kind() string { return "vin_check" }

func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// maxAttempts bounds the tries of a check whose registries are down; the last stores "unavailable".
// River's default backoff waits attempt⁴ seconds, so eight tries span about 80 minutes.
const maxAttempts = 8

// queue is what the service needs of a River client; river.Client[*sql.Tx] and river.Client[pgx.Tx]
// both have it.
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Options tune the queue; zero values take the defaults.
type Options struct {
	DatabaseURL string // for PostgreSQL, River's own pgx pool
	Logger      *slog.Logger
	Now         func() time.Time
	// RetryDelay overrides River's backoff between tries (tests use milliseconds).
	RetryDelay func(attempt int) time.Duration
}

// Open migrates River's tables in db and prepares a client; Start runs its workers.
func Open(ctx context.Context, db *database.DB, checker *Checker, o Options) (*Service, error) {
	s := &Service{store: NewStore(db), checker: checker, log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{s: s})
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchPollInterval: 200 * time.Millisecond,
		// One try asks at most four registries, each bounded by its own timeout.
		JobTimeout:           2 * time.Minute,
		RescueStuckJobsAfter: 10 * time.Minute, // a try cut off by a crash runs again this much later
		SoftStopTimeout:      5 * time.Second,  // then a stop cancels the tries still running; they retry
		Logger:               s.log.With("component", "river"),
	}
	if o.RetryDelay != nil {
		cfg.RetryPolicy = retryPolicy(o.RetryDelay)
	}
	var err error
	switch db.Dialect {
	case database.SQLite:
		s.queue, err = openSQLite(ctx, db, cfg)
	case database.Postgres:
		s.queue, s.pool, err = openPostgres(ctx, o.DatabaseURL, cfg)
	default:
		err = fmt.Errorf("vincheck: unknown dialect %q", db.Dialect)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openSQLite runs River on the service's own database handle.
func openSQLite(ctx context.Context, db *database.DB, cfg *river.Config) (queue, error) {
	drv := riversqlite.New(db.DB.DB)
	m, err := rivermigrate.New(drv, nil)
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil) // IMMEDIATE transactions serialise writers
	}
	if err != nil {
		return nil, fmt.Errorf("vincheck: river migrations: %w", err)
	}
	cfg.PollOnly = true // SQLite has no LISTEN/NOTIFY
	client, err := river.NewClient(drv, cfg)
	if err != nil {
		return nil, fmt.Errorf("vincheck: river client: %w", err)
	}
	return client, nil
}

// openPostgres runs River on a pgx pool of its own, opened from the same URL: River's PostgreSQL
// driver wants pgx's pool, while the service's handle is database/sql.
func openPostgres(ctx context.Context, url string, cfg *river.Config) (queue, *pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("vincheck: pool: %w", err)
	}
	pcfg.MaxConns = 8 // River's fetcher, listener, completer and maintenance; the workers use db
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("vincheck: pool: %w", err)
	}
	drv := riverpgxv5.New(pool)
	if err := migratePostgres(ctx, pool, drv); err != nil {
		pool.Close()
		return nil, nil, err
	}
	client, err := river.NewClient(drv, cfg)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("vincheck: river client: %w", err)
	}
	return client, pool, nil
}

// migratePostgres brings River's own tables (river_job and friends) up to date while holding an
// advisory lock, so that instances starting together migrate one after the other. River's
// migrations cannot share one transaction (a new enum value is used in the migration adding it),
// so the lock is a session lock on a connection of its own.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, drv *riverpgxv5.Driver) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("vincheck: river migrations: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("vincheck: river migrations: %w", err)
	}
	defer conn.Release()
	// Keyed by schema: River's tables live in the current one, and so does each test's database.
	const key = `hashtextextended('forteleasing river migrations ' || current_schema(), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("vincheck: river migrations: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // closing the session releases the lock too
		}
	}()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("vincheck: river migrations: %w", err)
	}
	return nil
}

// worker runs one try of an upload's check.
type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	id := job.Args.UploadID
	in, err := w.s.store.input(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("upload %d is gone", id))
	}
	if err != nil {
		return err
	}
	r := w.s.checker.Check(ctx, in)
	if ctx.Err() != nil {
		return ctx.Err() // stopped or timed out: River tries again, nothing half-known is stored
	}
	if r.Status != StatusUnavailable || job.Attempt >= job.MaxAttempts {
		return w.s.store.save(ctx, id, r, job.Attempt)
	}
	// Still pending: keep what this try learnt (the odometer registration above all) for the next.
	pending := r
	pending.Status = StatusPending
	if err := w.s.store.save(ctx, id, pending, job.Attempt); err != nil {
		return err
	}
	return fmt.Errorf("vin check of upload %d, try %d of %d: a registry is unavailable", id, job.Attempt, job.MaxAttempts)
}

// retryPolicy turns a delay function into River's ClientRetryPolicy.
type retryPolicy func(attempt int) time.Duration

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p(job.Attempt))
}

// Package jobs runs the service's background work on River, in the service's own database and on its
// own database/sql pool (riversqlite for SQLite, riverdatabasesql for PostgreSQL), so a feature can
// enqueue a job in the transaction of the change that causes it.
//
// How a feature adds a job:
//
//  1. Define its args (a type with Kind() and, optionally, InsertOpts()) and a river.Worker for them.
//  2. Register the worker with Add before the app opens the queue (app.Open does, in order).
//  3. Enqueue with InsertTx inside the transaction that makes the job necessary (database.DB.InTx
//     gives an *sqlx.Tx: pass its Tx; an inspections.UploadHook is handed the upload's). The job commits or rolls back with that change: no
//     reconciler has to find what a crash lost. Insert (outside a transaction) is for work that no
//     write causes, such as an on-demand request.
//  4. Periodic work: Every, before the queue opens. River's leader inserts it, so among several
//     instances one runs it.
package jobs

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/forteleasing/inspections/internal/database"
)

// ErrNotOpen is returned by inserts before Open.
var ErrNotOpen = errors.New("jobs: the queue is not open yet")

// Queue is the service's River client and the workers and periodic jobs registered with it.
type Queue struct {
	db       *database.DB
	workers  *river.Workers
	periodic []*river.PeriodicJob
	client   *river.Client[*sql.Tx]
}

// New prepares a queue on db; register workers and periodic jobs, then Open it.
func New(db *database.DB) *Queue {
	return &Queue{db: db, workers: river.NewWorkers()}
}

// Add registers the worker of one kind of job.
func Add[T river.JobArgs](q *Queue, w river.Worker[T]) { river.AddWorker(q.workers, w) }

// Every inserts the job made by args every interval (and once at start), on the elected leader.
func (q *Queue) Every(interval time.Duration, args func() river.JobArgs) {
	q.periodic = append(q.periodic, river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return args(), nil }, &river.PeriodicJobOpts{RunOnStart: true}))
}

// Options tune the client; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// MaxWorkers bounds the jobs running at once in this process (default 4).
	MaxWorkers int
	// JobTimeout bounds one try of a job whose worker sets no timeout of its own (default 2 min).
	JobTimeout time.Duration
}

// Open migrates River's tables and creates the client; Start runs the workers.
func (q *Queue) Open(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = 4
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 2 * time.Minute
	}
	var drv riverdriver.Driver[*sql.Tx]
	switch q.db.Dialect {
	case database.SQLite:
		drv = riversqlite.New(q.db.DB.DB)
	case database.Postgres:
		drv = riverdatabasesql.New(q.db.DB.DB)
	default:
		return fmt.Errorf("jobs: unknown dialect %q", q.db.Dialect)
	}
	if err := q.migrate(ctx, drv); err != nil {
		return err
	}
	client, err := river.NewClient(drv, &river.Config{
		Queues:       map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.MaxWorkers}},
		Workers:      q.workers,
		PeriodicJobs: q.periodic,
		// Neither driver on database/sql listens for PostgreSQL's notifications: workers poll.
		PollOnly:             true,
		FetchPollInterval:    200 * time.Millisecond,
		JobTimeout:           o.JobTimeout,
		RescueStuckJobsAfter: 10 * time.Minute, // a try cut off by a crash runs again this much later
		SoftStopTimeout:      5 * time.Second,  // then a stop cancels the tries still running; they retry
		Logger:               o.Logger.With("component", "river"),
	})
	if err != nil {
		return fmt.Errorf("jobs: river client: %w", err)
	}
	q.client = client
	return nil
}

// migrate brings River's own tables (river_job and friends) up to date. On PostgreSQL it holds an
// advisory lock, so that instances starting together migrate one after the other; River's migrations
// cannot share one transaction (a new enum value is used in the migration adding it), so the lock is a
// session lock on a connection of its own. On SQLite, IMMEDIATE transactions serialise writers.
func (q *Queue) migrate(ctx context.Context, drv riverdriver.Driver[*sql.Tx]) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("jobs: river migrations: %w", err)
	}
	if q.db.Dialect == database.Postgres {
		conn, err := q.db.DB.DB.Conn(ctx)
		if err != nil {
			return fmt.Errorf("jobs: river migrations: %w", err)
		}
		defer conn.Close()
		// Keyed by schema: River's tables live in the current one, and so does each test's database.
		const key = `hashtextextended('forteleasing river migrations ' || current_schema(), 0)`
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
			return fmt.Errorf("jobs: river migrations: lock: %w", err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // drop the session: that releases the lock too
			}
		}()
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: river migrations: %w", err)
	}
	return nil
}

// InsertTx enqueues a job in tx: it runs only if tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if q.client == nil {
		return nil, ErrNotOpen
	}
	return q.client.InsertTx(ctx, tx, args, opts)
}

// InsertManyTx enqueues several jobs in tx.
func (q *Queue) InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error {
	if q.client == nil {
		return ErrNotOpen
	}
	if len(params) == 0 {
		return nil
	}
	_, err := q.client.InsertManyTx(ctx, tx, params)
	return err
}

// CompleteTx marks a running job completed inside tx, from its worker: the work the job commits in tx
// and its completion are one, so a crash or a stop after the commit cannot run it again (River's own
// completion after Work returns nil then finds it done). Both drivers work on *sql.Tx; River takes the
// driver from the worker's context.
func CompleteTx[T river.JobArgs](ctx context.Context, tx *sql.Tx, job *river.Job[T]) error {
	_, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
	return err
}

// Insert enqueues a job that no transaction causes.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if q.client == nil {
		return nil, ErrNotOpen
	}
	return q.client.Insert(ctx, args, opts)
}

// Start runs the workers until Stop. ctx only carries values: a cancelled ctx would make River stop
// hard, cancelling running jobs, where a shutdown wants Stop to let them finish.
func (q *Queue) Start(ctx context.Context) error {
	if q.client == nil {
		return ErrNotOpen
	}
	return q.client.Start(context.WithoutCancel(ctx))
}

// Stop lets running jobs finish (within ctx, then cancels them to retry later). Stopping a queue that
// never started, or twice, is fine.
func (q *Queue) Stop(ctx context.Context) error {
	if q.client == nil {
		return nil
	}
	return q.client.Stop(ctx)
}

// Subscribe tells about finished jobs of the given kinds of event (tests wait on it).
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.client.Subscribe(kinds...)
}

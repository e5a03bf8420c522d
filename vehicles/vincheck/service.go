package vincheck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/vehicles/provider"
)

// Args is the River job of one upload's check. Unique by upload: enqueueing twice runs it once.
type Args struct {
	UploadID int64 `json:"upload_id"`
}

func (Args) Kind() string { return "vin_check" }

func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// maxAttempts bounds the tries of a check whose registries are down; the last stores "unavailable".
// With River's default backoff (attempt⁴ seconds) the five tries span about 15 minutes.
const maxAttempts = 5

// queue is what the service needs of a River client; river.Client[*sql.Tx] and river.Client[pgx.Tx]
// both have it.
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Options tune the queue; zero values take the defaults.
type Options struct {
	DatabaseURL string // for PostgreSQL, River's own pgx pool
	Logger      *slog.Logger
	Now         func() time.Time
	// RetryDelay overrides River's backoff between tries (tests use milliseconds).
	RetryDelay func(attempt int) time.Duration
}

// Service records, queues and runs the checks, and answers them to 1C.
type Service struct {
	store   *Store
	checker *Checker
	queue   queue
	pool    *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	stop    sync.Once
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
		JobTimeout:        2 * time.Minute,
		Logger:            s.log.With("component", "river"),
	}
	if o.RetryDelay != nil {
		cfg.RetryPolicy = retryPolicy(o.RetryDelay)
	}
	var err error
	switch db.Dialect {
	case database.SQLite:
		drv := riversqlite.New(db.DB.DB)
		if err := migrateRiver(ctx, drv); err != nil {
			return nil, err
		}
		cfg.PollOnly = true // SQLite has no LISTEN
		s.queue, err = river.NewClient[*sql.Tx](drv, cfg)
	case database.Postgres:
		if s.pool, err = pgxpool.New(ctx, o.DatabaseURL); err != nil {
			return nil, fmt.Errorf("vincheck: pool: %w", err)
		}
		drv := riverpgxv5.New(s.pool)
		if err := migrateRiver(ctx, drv); err != nil {
			s.pool.Close()
			return nil, err
		}
		s.queue, err = river.NewClient(drv, cfg)
	default:
		return nil, fmt.Errorf("vincheck: unknown dialect %q", db.Dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("vincheck: river client: %w", err)
	}
	return s, nil
}

// migrateRiver brings River's own tables (river_job and friends) up to date, as goose does ours.
func migrateRiver[TTx any](ctx context.Context, drv riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("vincheck: river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("vincheck: river migrations: %w", err)
	}
	return nil
}

// Start runs the workers.
func (s *Service) Start(ctx context.Context) error { return s.queue.Start(ctx) }

// Stop lets running checks finish (within ctx) and releases River's pool.
func (s *Service) Stop(ctx context.Context) (err error) {
	s.stop.Do(func() {
		err = s.queue.Stop(ctx)
		if s.pool != nil {
			s.pool.Close()
		}
	})
	return err
}

// Enqueue records a pending check for an upload and queues it. It never fails the upload: an error is
// logged and the reconciler tries again.
func (s *Service) Enqueue(ctx context.Context, uploadID int64) {
	if err := s.enqueue(ctx, uploadID); err != nil {
		s.log.Warn("vin check not queued; the reconciler will", "upload_id", uploadID, "err", err)
	}
}

func (s *Service) enqueue(ctx context.Context, uploadID int64) error {
	if err := s.store.ensurePending(ctx, uploadID, s.now().UTC()); err != nil {
		return err
	}
	_, err := s.queue.Insert(ctx, Args{UploadID: uploadID}, nil)
	return err
}

// Reconcile queues the uploads of the last week that have no check (a crash between an upload's commit
// and its enqueue); run it periodically.
func (s *Service) Reconcile(ctx context.Context) error {
	ids, err := s.store.unchecked(ctx, s.now().Add(-7*24*time.Hour), 500)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.enqueue(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// ForReports gives the 1C feed each report's newest check (onec.VINChecks).
func (s *Service) ForReports(ctx context.Context, reportIDs []int64) (map[int64]any, error) {
	latest, err := s.store.latest(ctx, reportIDs)
	out := make(map[int64]any, len(latest))
	for id, r := range latest {
		out[id] = r
	}
	return out, err
}

// CheckVehicle runs a check of a vehicle now, without storing it (POST /1c/vehicles/{guid}/check).
func (s *Service) CheckVehicle(ctx context.Context, guid string) (Result, error) {
	vin, plate, err := s.store.vehicle(ctx, guid)
	if err != nil {
		return Result{}, err
	}
	return s.checker.Check(ctx, Input{VINExpected: vin, Plate: plate}), nil
}

// Callback stores a result the VAG history service posted back, after checking its secret.
func (s *Service) Callback(ctx context.Context, presented string, body []byte, secret string) error {
	res, err := provider.ParseCallback(presented, body, secret)
	if err != nil {
		return err
	}
	return s.store.saveCallback(ctx, res, body, s.now().UTC())
}

// worker runs one check job.
type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	in, err := w.s.store.input(ctx, job.Args.UploadID)
	if errors.Is(err, sql.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("upload %d is gone", job.Args.UploadID))
	}
	if err != nil {
		return err
	}
	r := w.s.checker.Check(ctx, in)
	if r.Status == StatusUnavailable && job.Attempt < job.MaxAttempts {
		pending := r
		pending.Status = StatusPending
		if err := w.s.store.save(ctx, job.Args.UploadID, pending, job.Attempt); err != nil {
			return err
		}
		return fmt.Errorf("vin check of upload %d, try %d of %d: a registry is unavailable", job.Args.UploadID, job.Attempt, job.MaxAttempts)
	}
	return w.s.store.save(ctx, job.Args.UploadID, r, job.Attempt)
}

// retryPolicy turns a delay function into River's ClientRetryPolicy.
type retryPolicy func(attempt int) time.Duration

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p(job.Attempt))
}

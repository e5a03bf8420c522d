package vincheck

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/jobs"
	"github.com/forteleasing/inspections/vehicles/provider"
)

// Service records, queues and runs the checks, and answers them to 1C.
type Service struct {
	store      *Store
	checker    *Checker
	queue      *jobs.Queue
	now        func() time.Time
	retryDelay func(attempt int) time.Duration
	hooks      []inspections.VINCheckHook
}

// Options tune the service; zero values take the defaults.
type Options struct {
	Now func() time.Time
	// RetryDelay overrides River's backoff between tries (tests use milliseconds).
	RetryDelay func(attempt int) time.Duration
}

// New registers the check's worker on q; q runs it.
func New(db *database.DB, checker *Checker, q *jobs.Queue, o Options) *Service {
	s := &Service{store: NewStore(db), checker: checker, queue: q, now: o.Now, retryDelay: o.RetryDelay}
	if s.now == nil {
		s.now = time.Now
	}
	jobs.Add(q, &worker{s: s})
	return s
}

// Hook adds work that commits with every finished check (the authenticity re-evaluation's job); wire
// hooks before the queue starts.
func (s *Service) Hook(h ...inspections.VINCheckHook) { s.hooks = append(s.hooks, h...) }

// UploadCommitting records a pending check of the upload and queues its job, in the upload's own
// transaction (inspections.UploadHook): the upload and its check commit together or not at all.
func (s *Service) UploadCommitting(ctx context.Context, tx *sql.Tx, u inspections.Upload) error {
	if err := s.store.addPending(ctx, tx, u.ID, u.ReportID, s.now().UTC()); err != nil {
		return fmt.Errorf("vincheck: record the check: %w", err)
	}
	if _, err := s.queue.InsertTx(ctx, tx, Args{UploadID: u.ID}, nil); err != nil {
		return fmt.Errorf("vincheck: queue the check: %w", err)
	}
	return nil
}

// FromStored is what a check the 1C feed read with its own statement means (inspections.VINChecks).
func (s *Service) FromStored(c inspections.StoredVINCheck) inspections.VINCheck {
	row := checkRow{Status: c.Status, Provider: c.Provider, VINExpected: c.VINExpected, VINFound: c.VINFound,
		Facts: c.Facts, Odometer: c.Odometer}
	if c.CheckedAt != nil {
		row.CheckedAt = sql.NullTime{Time: *c.CheckedAt, Valid: true}
	}
	return row.result()
}

// ForReports gives each report's newest check (the authenticity analysis reads it).
func (s *Service) ForReports(ctx context.Context, reportIDs []int64) (map[int64]inspections.VINCheck, error) {
	return s.store.latest(ctx, reportIDs)
}

// onDemandTimeout bounds POST /1c/vehicles/{guid}/check below the server's write timeout.
const onDemandTimeout = 45 * time.Second

// CheckVehicle runs a check of a vehicle now, without storing it (POST /1c/vehicles/{guid}/check).
func (s *Service) CheckVehicle(ctx context.Context, guid string) (Result, error) {
	vin, plate, err := s.store.vehicle(ctx, guid)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, onDemandTimeout)
	defer cancel()
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

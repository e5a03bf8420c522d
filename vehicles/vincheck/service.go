package vincheck

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/vehicles/provider"
)

// Service records, queues and runs the checks, and answers them to 1C.
type Service struct {
	store   *Store
	checker *Checker
	queue   queue
	pool    *pgxpool.Pool // River's, on PostgreSQL
	log     *slog.Logger
	now     func() time.Time
	stop    sync.Once
}

// Start runs the workers until Stop. ctx only carries values: a cancelled ctx would make River stop
// hard, cancelling running checks, where a shutdown wants Stop to let them finish.
func (s *Service) Start(ctx context.Context) error { return s.queue.Start(context.WithoutCancel(ctx)) }

// Stop lets running checks finish (within ctx, then cancels them to retry later) and releases River's pool.
func (s *Service) Stop(ctx context.Context) (err error) {
	s.stop.Do(func() {
		err = s.queue.Stop(ctx)
		if s.pool != nil {
			s.pool.Close()
		}
	})
	return err
}

// Enqueue records a pending check for a committed upload and queues it. It never fails the upload:
// an error is logged and the reconciler tries again.
func (s *Service) Enqueue(ctx context.Context, uploadID int64) {
	err := s.store.ensurePending(ctx, []int64{uploadID}, s.now().UTC())
	if err == nil {
		_, err = s.queue.Insert(ctx, Args{UploadID: uploadID}, nil)
	}
	if err != nil {
		s.log.Warn("vin check not queued; the reconciler will", "upload_id", uploadID, "err", err)
	}
}

// reconcileWindow is how far back the reconciler looks for uploads whose check was lost.
const reconcileWindow = 7 * 24 * time.Hour

// Reconcile queues the checks a crash or a database hiccup left behind: uploads of the last week
// without a check row (lost between the upload's commit and Enqueue) and pending checks (whose job may
// be lost). Jobs are unique per upload, so a check whose job is queued or running is left alone.
// Run it periodically.
func (s *Service) Reconcile(ctx context.Context) error {
	now := s.now().UTC()
	ids, err := s.store.unfinished(ctx, now.Add(-reconcileWindow), 500)
	if err != nil || len(ids) == 0 {
		return err
	}
	if err := s.store.ensurePending(ctx, ids, now); err != nil {
		return err
	}
	jobs := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		jobs[i] = river.InsertManyParams{Args: Args{UploadID: id}}
	}
	res, err := s.queue.InsertMany(ctx, jobs)
	if err != nil {
		return err
	}
	queued := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			queued++
		}
	}
	if queued > 0 {
		s.log.Info("vin checks queued by the reconciler", "count", queued)
	}
	return nil
}

// ForReports gives the 1C feed each report's newest check (inspections.VINChecks).
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

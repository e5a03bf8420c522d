package auth

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/jobs"
)

// PurgeArgs is the periodic job that removes rate-limit records no limit reads any more.
type PurgeArgs struct{}

func (PurgeArgs) Kind() string { return "purge_otp_ledgers" }

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	s *Service
}

func (w *purgeWorker) Work(ctx context.Context, _ *river.Job[PurgeArgs]) error {
	return w.s.PurgeLedgers(ctx)
}

// Schedule registers the hourly purge of the OTP ledgers on q.
func (s *Service) Schedule(q *jobs.Queue) {
	jobs.Add(q, &purgeWorker{s: s})
	q.Every(time.Hour, func() river.JobArgs { return PurgeArgs{} })
}

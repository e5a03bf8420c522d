package resumable

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/jobs"
)

// SweepArgs is the periodic job that removes expired resumable uploads.
type SweepArgs struct{}

func (SweepArgs) Kind() string { return "sweep_resumable_uploads" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	n, err := w.s.Sweep(ctx)
	if n > 0 {
		w.s.log.Info("removed expired resumable uploads", "count", n)
	}
	return err
}

// Schedule registers the sweep of expired uploads on q, every 15 minutes.
func (s *Service) Schedule(q *jobs.Queue) {
	jobs.Add(q, &sweepWorker{s: s})
	q.Every(15*time.Minute, func() river.JobArgs { return SweepArgs{} })
}

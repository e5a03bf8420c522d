package reports

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/jobs"
)

// Orphaned videos are what a crash between storing a video and committing its upload leaves behind;
// an hour is far longer than any upload takes.
const (
	sweepEvery  = 15 * time.Minute
	sweepMinAge = time.Hour
)

// SweepArgs is the periodic job that removes orphaned videos.
type SweepArgs struct{}

func (SweepArgs) Kind() string { return "sweep_orphaned_videos" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	u *Uploads
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	n, err := w.u.SweepOrphans(ctx, sweepMinAge)
	if n > 0 {
		w.u.log.Info("removed orphaned videos", "count", n)
	}
	return err
}

// Schedule registers the orphan sweeper on q.
func (u *Uploads) Schedule(q *jobs.Queue) {
	jobs.Add(q, &sweepWorker{u: u})
	q.Every(sweepEvery, func() river.JobArgs { return SweepArgs{} })
}

package reports

import (
	"context"
	"errors"
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

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error { return w.u.Sweep(ctx) }

// tempSweeper is a store that keeps temp files of its own (the disk store's .tmp-* files).
type tempSweeper interface {
	SweepTemps(ctx context.Context, minAge time.Duration) (int, error)
}

// Sweep removes what interrupted uploads left behind, each once it is an hour old: videos no upload
// row refers to, and the store's temp files (a crash in the middle of a disk write).
func (u *Uploads) Sweep(ctx context.Context) error {
	n, err := u.SweepOrphans(ctx, sweepMinAge)
	if n > 0 {
		u.log.Info("removed orphaned videos", "count", n)
	}
	if ts, ok := u.media.(tempSweeper); ok {
		t, terr := ts.SweepTemps(ctx, sweepMinAge)
		if t > 0 {
			u.log.Info("removed temp files left by interrupted writes", "count", t)
		}
		err = errors.Join(err, terr)
	}
	return err
}

// Schedule registers the orphan sweeper on q.
func (u *Uploads) Schedule(q *jobs.Queue) {
	jobs.Add(q, &sweepWorker{u: u})
	q.Every(sweepEvery, func() river.JobArgs { return SweepArgs{} })
}

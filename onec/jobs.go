package onec

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/jobs"
)

// PurgeAuthFailuresArgs is the periodic job that forgets 1C login-failure windows that have ended.
type PurgeAuthFailuresArgs struct{}

func (PurgeAuthFailuresArgs) Kind() string { return "purge_onec_auth_failures" }

type purgeAuthFailuresWorker struct {
	river.WorkerDefaults[PurgeAuthFailuresArgs]
	t *Throttle
}

func (w *purgeAuthFailuresWorker) Work(ctx context.Context, _ *river.Job[PurgeAuthFailuresArgs]) error {
	return w.t.Purge(ctx)
}

// Schedule registers the hourly purge of ended windows on q.
func (t *Throttle) Schedule(q *jobs.Queue) {
	jobs.Add(q, &purgeAuthFailuresWorker{t: t})
	q.Every(time.Hour, func() river.JobArgs { return PurgeAuthFailuresArgs{} })
}

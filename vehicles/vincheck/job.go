package vincheck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/jobs"
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

// tryTimeout bounds one try: it asks at most four registries, each bounded by its own timeout.
const tryTimeout = 2 * time.Minute

// worker runs one try of an upload's check.
type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Timeout(*river.Job[Args]) time.Duration { return tryTimeout }

// NextRetry is River's backoff unless the options replace it (tests use milliseconds).
func (w *worker) NextRetry(job *river.Job[Args]) time.Time {
	if w.s.retryDelay == nil {
		return time.Time{}
	}
	return time.Now().Add(w.s.retryDelay(job.Attempt))
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
		// The result, the hooks' work (the re-evaluation's job) and the job's completion commit
		// together: a stored result always has its re-evaluation, and is never checked again.
		return w.s.store.save(ctx, id, r, job.Attempt, func(tx *sql.Tx) error {
			for _, h := range w.s.hooks {
				if err := h.VINChecked(ctx, tx, id); err != nil {
					return err
				}
			}
			return jobs.CompleteTx(ctx, tx, job)
		})
	}
	// Still pending: keep what this try learnt (the odometer registration above all) for the next.
	pending := r
	pending.Status = StatusPending
	if err := w.s.store.save(ctx, id, pending, job.Attempt, nil); err != nil {
		return err
	}
	return fmt.Errorf("vin check of upload %d, try %d of %d: a registry is unavailable", id, job.Attempt, job.MaxAttempts)
}

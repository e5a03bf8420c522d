// Package notify tells the app's users about their tasks by push: new tasks from 1C and 1C's
// decisions. Each notification is a River job with the devices it goes to, queued in the transaction of
// the change it tells about, retried with River's backoff, and kept across restarts.
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/jobs"
	"github.com/forteleasing/inspections/internal/push"
	"github.com/forteleasing/inspections/onec"
	"github.com/forteleasing/inspections/reports"
)

// Args is the River job of one notification to the devices of Tokens (one job per device cost a company
// with 64 devices 64 River rows, each inserted, fetched and completed by SQLite's one writer, for every
// new task: half of the service's CPU under 10 1C writes a second). The tokens are read in the
// transaction of the change, so the push goes to the devices logged in when the change happened.
type Args struct {
	Token  string            `json:"token,omitempty"` // one device: the jobs queued before Tokens
	Tokens []string          `json:"tokens,omitempty"`
	Title  string            `json:"title"`
	Body   string            `json:"body"`
	Data   map[string]string `json:"data"`
}

func (a Args) tokens() []string {
	if a.Token != "" {
		return append([]string{a.Token}, a.Tokens...)
	}
	return a.Tokens
}

func (Args) Kind() string { return "push" }

// A push older than its last try (River's backoff: about 3 h after 6 tries) is no news any more.
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: maxAttempts} }

const (
	maxAttempts = 6
	sendTimeout = 10 * time.Second
)

// Service queues and sends the pushes.
type Service struct {
	store  *Store
	queue  *jobs.Queue
	sender push.Sender
	log    *slog.Logger
}

// New registers the push worker on q; sender delivers (FCM, or a log when unconfigured).
func New(store *Store, q *jobs.Queue, sender push.Sender, log *slog.Logger) *Service {
	s := &Service{store: store, queue: q, sender: sender, log: log}
	jobs.Add(q, &worker{s: s})
	return s
}

// NewTasks queues a push to every device of the company of each new task (onec.Notifier).
func (s *Service) NewTasks(ctx context.Context, tx *sql.Tx, tasks []onec.NewTask) error {
	for _, t := range tasks {
		tokens, err := s.store.companyTokens(ctx, tx, t.CompanyID)
		if err != nil {
			return fmt.Errorf("notify: company devices: %w", err)
		}
		n := push.Notification{
			Title: "Новая задача: отчёт №" + t.ReportNumber,
			Body:  "Снимите видео осмотра транспорта и отправьте отчёт в приложении.",
			Data:  map[string]string{"ref_key": t.RefKey, "status_code": strconv.Itoa(reports.StatusToSubmit)},
		}
		if err := s.queueAll(ctx, tx, tokens, n); err != nil {
			return err
		}
	}
	return nil
}

// Decided queues a push of 1C's decision to the uploader's and the director's devices (onec.Notifier).
func (s *Service) Decided(ctx context.Context, tx *sql.Tx, d onec.Decided) error {
	tokens, err := s.store.uploaderAndDirectorTokens(ctx, tx, d.CompanyID, d.UploaderID)
	if err != nil {
		return fmt.Errorf("notify: devices: %w", err)
	}
	n := push.Notification{
		Title: "Отчёт №" + d.ReportNumber + " одобрен",
		Body:  "Спасибо! Видео осмотра принято.",
		Data:  map[string]string{"ref_key": d.RefKey, "status_code": strconv.Itoa(d.StatusCode)},
	}
	if d.StatusCode == reports.StatusRejected {
		n.Title = "Отчёт №" + d.ReportNumber + " отклонён"
		n.Body = fmt.Sprintf("Причина: %s. Снимите видео заново.", d.RejectReason)
		n.Data["reject_reason"] = d.RejectReason
	}
	return s.queueAll(ctx, tx, tokens, n)
}

func (s *Service) queueAll(ctx context.Context, tx *sql.Tx, tokens []string, n push.Notification) error {
	var params []river.InsertManyParams
	for chunk := range slices.Chunk(tokens, tokensPerJob) {
		params = append(params, river.InsertManyParams{Args: Args{Tokens: chunk, Title: n.Title, Body: n.Body, Data: n.Data}})
	}
	if len(params) == 0 {
		return nil
	}
	if err := s.queue.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("notify: queue pushes: %w", err)
	}
	return nil
}

const (
	tokensPerJob = 100
	sendsAtOnce  = 8
)

type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Timeout(job *river.Job[Args]) time.Duration {
	return sendTimeout * time.Duration((len(job.Args.tokens())+sendsAtOnce-1)/sendsAtOnce+1)
}

// Work sends the push to each device. A dead token is forgotten and never retried; an answer that may
// change (FCM unavailable, a network error) is tried again with River's backoff — the whole job when no
// device got it, else a job of its own for the devices that did not, with the tries left; any other
// refusal is final.
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	n := push.Notification{Title: a.Title, Body: a.Body, Data: a.Data}
	tokens := a.tokens()
	errs := make([]error, len(tokens))
	sem := make(chan struct{}, sendsAtOnce)
	var wg sync.WaitGroup
	for i, token := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = w.send(ctx, token, n)
		}()
	}
	wg.Wait()
	var again []string
	var last error
	for i, err := range errs {
		if err != nil {
			again, last = append(again, tokens[i]), err
		}
	}
	switch {
	case len(again) == 0:
		return nil
	case len(again) == len(tokens):
		return last
	}
	left := job.MaxAttempts - job.Attempt
	if left <= 0 {
		w.s.log.Warn("push not delivered to every device; no tries left", "devices", len(again), "err", last)
		return nil
	}
	backoff := time.Duration(job.Attempt*job.Attempt*job.Attempt*job.Attempt) * time.Second // River's default: attempt⁴ s
	_, err := w.s.queue.Insert(ctx, Args{Tokens: again, Title: a.Title, Body: a.Body, Data: a.Data},
		&river.InsertOpts{MaxAttempts: left, ScheduledAt: time.Now().Add(backoff)})
	return err
}

// send pushes to one device; an error means this device should be tried again later.
func (w *worker) send(ctx context.Context, token string, n push.Notification) error {
	err := w.s.sender.Send(ctx, token, n)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, push.ErrUnregistered):
		if ferr := w.s.store.forget(ctx, token); ferr != nil {
			return fmt.Errorf("notify: forget dead token: %w", ferr)
		}
		w.s.log.Info("push: token no longer registered; forgotten", "token", push.Fingerprint(token))
		return nil
	case push.IsRetryable(err):
		return err
	default:
		w.s.log.Warn("push refused; not retried", "token", push.Fingerprint(token), "err", err)
		return nil
	}
}

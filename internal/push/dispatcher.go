package push

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// DispatcherOptions tune the background sender; zero values take the defaults.
type DispatcherOptions struct {
	Logger         *slog.Logger
	OnUnregistered func(ctx context.Context, token string) // e.g. delete the token
	MaxAttempts    int                                     // default 5
	Backoff        func(attempt int) time.Duration         // default: jittered exponential from 1 s, at most 1 min
	QueueSize      int                                     // default 1024
	Workers        int                                     // default 4
	SendTimeout    time.Duration                           // default 10 s
}

type job struct {
	token string
	n     Notification
}

// Dispatcher sends queued notifications with retries. Enqueue never blocks: when the queue is full the
// notification is dropped and logged, since a missed push is better than a stalled request.
type Dispatcher struct {
	s     Sender
	o     DispatcherOptions
	queue chan job
	wg    sync.WaitGroup
	mu    sync.RWMutex
	shut  bool
	stop  chan struct{}
	once  sync.Once
}

func NewDispatcher(s Sender, o DispatcherOptions) *Dispatcher {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff == nil {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval = time.Second, time.Minute
		var mu sync.Mutex
		o.Backoff = func(int) time.Duration { mu.Lock(); defer mu.Unlock(); return b.NextBackOff() }
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 10 * time.Second
	}
	return &Dispatcher{s: s, o: o, queue: make(chan job, o.QueueSize), stop: make(chan struct{})}
}

// Enqueue queues n for each token; it copies what it keeps.
func (d *Dispatcher) Enqueue(tokens []string, n Notification) {
	data := make(map[string]string, len(n.Data))
	for k, v := range n.Data {
		data[k] = v
	}
	n.Data = data
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.shut {
		d.o.Logger.Warn("push dropped: shutting down", "title", n.Title)
		return
	}
	for _, t := range tokens {
		select {
		case d.queue <- job{token: t, n: n}:
		default:
			d.o.Logger.Warn("push dropped: queue full", "token", Fingerprint(t), "title", n.Title)
		}
	}
}

// Start runs the workers until Close.
func (d *Dispatcher) Start(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for i := 0; i < d.o.Workers; i++ {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for j := range d.queue {
				d.deliver(ctx, j)
			}
		}()
	}
}

func (d *Dispatcher) deliver(ctx context.Context, j job) {
	for attempt := 1; ; attempt++ {
		sendCtx, cancel := context.WithTimeout(ctx, d.o.SendTimeout)
		err := d.s.Send(sendCtx, j.token, j.n)
		cancel()
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrUnregistered):
			d.o.Logger.Info("push token unregistered: forgetting it", "token", Fingerprint(j.token))
			if d.o.OnUnregistered != nil {
				d.o.OnUnregistered(ctx, j.token)
			}
			return
		case !IsRetryable(err) || attempt >= d.o.MaxAttempts:
			d.o.Logger.Error("push failed", "token", Fingerprint(j.token), "attempts", attempt, "err", err)
			return
		}
		select {
		case <-time.After(d.o.Backoff(attempt)):
		case <-d.stop:
			d.o.Logger.Warn("push abandoned at shutdown", "token", Fingerprint(j.token), "attempts", attempt)
			return
		}
	}
}

// Close stops accepting, then waits for the queue to drain until ctx ends; retries waiting on a backoff stop.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.shut {
		d.shut = true
		close(d.queue)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		d.once.Do(func() { close(d.stop) })
		return ctx.Err()
	}
}

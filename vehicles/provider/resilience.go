package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// Options tune the resilience shared by every client; zero values take the defaults.
type Options struct {
	Timeout         time.Duration    // one call, retries included (default 10s)
	MaxTries        uint             // attempts per call, the first included (default 3)
	BackoffInitial  time.Duration    // first pause between attempts, jittered ±50% (default 200ms)
	BackoffMax      time.Duration    // longest pause (default 2s)
	BreakerFailures uint32           // consecutive unavailable answers that open the breaker (default 5)
	BreakerTimeout  time.Duration    // how long an open breaker refuses calls (default 30s)
	CacheSize       int              // entries per client (default 1024; negative disables the cache)
	CacheTTL        time.Duration    // lifetime of a cached answer, found or not found (default 1h)
	Now             func() time.Time // clock for token expiry and the age of cached answers (default time.Now)
	// Registerer receives the call metrics; nil leaves them unregistered. Clients sharing one
	// Registerer share the same collectors.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxTries == 0 {
		o.MaxTries = 3
	}
	if o.BackoffInitial <= 0 {
		o.BackoffInitial = 200 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 2 * time.Second
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerTimeout <= 0 {
		o.BreakerTimeout = 30 * time.Second
	}
	if o.CacheSize == 0 {
		o.CacheSize = 1024
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// guard is the one path every outbound call takes: not-configured check, cache, overall timeout,
// retries, circuit breaker, metrics and credential scrubbing.
type guard struct {
	provider   string
	configured bool
	opts       Options
	breaker    *gobreaker.CircuitBreaker[struct{}]
	cache      *lru.Cache[string, cached] // age checked on read: expirable.LRU's reaper can panic (golang-lru#181)
	metrics    *metrics
	secrets    []string
}

type cached struct {
	value any
	err   error
	at    time.Time
}

// callerGone marks an attempt cut short by the caller's own context; the breaker ignores it.
type callerGone struct{ err error }

func (e callerGone) Error() string { return e.err.Error() }
func (e callerGone) Unwrap() error { return e.err }

func newGuard(provider string, configured bool, opts Options, secrets ...string) *guard {
	opts = opts.withDefaults()
	g := &guard{provider: provider, configured: configured, opts: opts, metrics: newMetrics(opts.Registerer)}
	for _, s := range secrets {
		if s != "" {
			g.secrets = append(g.secrets, s)
		}
	}
	g.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        provider,
		MaxRequests: 1,
		Timeout:     opts.BreakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.BreakerFailures },
		// Only unavailability trips the breaker: a 404 or a 401 proves the provider is up.
		IsSuccessful: func(err error) bool { return err == nil || !errors.Is(err, ErrUnavailable) },
		IsExcluded:   func(err error) bool { return errors.As(err, new(callerGone)) || unsent(err) },
	})
	if opts.CacheSize > 0 {
		g.cache, _ = lru.New[string, cached](opts.CacheSize) // errs only for a size < 1
	}
	return g
}

// callOpts describe one operation. A write is retried only on 503, where the provider promises
// it did nothing; a timeout after sending may already have created the record or spent money.
type callOpts struct {
	op       string
	cacheKey string // empty: not cached
	write    bool
}

// run executes fn under the guard. fn makes one attempt and returns *Error for provider answers.
func run[T any](ctx context.Context, g *guard, o callOpts, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	start := time.Now()
	if !g.configured {
		err := g.fail(o.op, 0, "not_configured", "", ErrNotConfigured, false)
		g.metrics.record(g.provider, o.op, err, start)
		return zero, err
	}
	if o.cacheKey != "" && g.cache != nil {
		if c, ok := g.cache.Get(o.op + ":" + o.cacheKey); ok && g.opts.Now().Sub(c.at) < g.opts.CacheTTL {
			if c.err != nil {
				return zero, c.err
			}
			return c.value.(T), nil
		}
	}

	callCtx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	var last error
	attempt := func() (T, error) {
		var out T
		_, err := g.breaker.Execute(func() (struct{}, error) {
			v, err := fn(callCtx)
			if err != nil && ctx.Err() != nil {
				err = callerGone{context.Cause(ctx)}
			}
			out = v
			return struct{}{}, err
		})
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = g.fail(o.op, 0, "circuit_open", "circuit breaker open", ErrUnavailable, false)
		}
		if err == nil {
			return out, nil
		}
		last = err
		if !g.retryable(err, o.write) {
			return out, backoff.Permanent(err)
		}
		return out, err
	}
	v, err := backoff.Retry(callCtx, attempt,
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     g.opts.BackoffInitial,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         g.opts.BackoffMax,
		}),
		backoff.WithMaxTries(g.opts.MaxTries),
		backoff.WithMaxElapsedTime(g.opts.Timeout))
	if err != nil {
		// Retry hands back the context's cause when it stops while waiting; the last answer says more.
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("%s %s: %w", g.provider, o.op, context.Cause(ctx))
		case last != nil:
			err = last
		default:
			err = g.fail(o.op, 0, "timeout", "no answer within "+g.opts.Timeout.String(), ErrUnavailable, true)
		}
	}
	g.metrics.record(g.provider, o.op, err, start)
	if o.cacheKey != "" && g.cache != nil && (err == nil || errors.Is(err, ErrNotFound)) {
		g.cache.Add(o.op+":"+o.cacheKey, cached{value: v, err: err, at: g.opts.Now()})
	}
	if err != nil {
		return zero, err
	}
	return v, nil
}

// unsent reports a call we refused before it reached the provider (bad input or configuration);
// it says nothing about the provider's health.
func unsent(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Status == 0 && (e.Kind == ErrBadRequest || e.Kind == ErrNotConfigured)
}

func (g *guard) retryable(err error, write bool) bool {
	e, ok := errors.AsType[*Error](err)
	if !ok || !e.temporary {
		return false
	}
	return !write || e.Status == 503
}

// fail builds the package's error with every configured credential scrubbed from its text.
func (g *guard) fail(op string, status int, code, message string, kind error, temporary bool) *Error {
	return &Error{
		Provider:  g.provider,
		Op:        op,
		Status:    status,
		Code:      g.scrub(code),
		Message:   g.scrub(message),
		Kind:      kind,
		temporary: temporary,
	}
}

func (g *guard) scrub(s string) string {
	for _, secret := range g.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

package onec

import (
	"context"
	"log/slog"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/forteleasing/inspections/internal/apperr"
)

// ThrottleOptions bound guessing of the 1C password: after Max failed logins from one client address
// within Window, every 1C request from that address answers 429 until the window ends.
type ThrottleOptions struct {
	Max    int           // FL_ONEC_AUTH_FAILURES, default 10
	Window time.Duration // FL_ONEC_AUTH_WINDOW, default 10 minutes
	Now    func() time.Time
	Logger *slog.Logger
	// OnFailure and OnBlocked feed the metrics: every failed login, every request refused with 429.
	OnFailure, OnBlocked func()
}

// Throttle counts failed 1C logins per client address in the database, so that all instances share one
// count. Blocks already seen are remembered here, so a blocked address costs no query.
type Throttle struct {
	store   *Store
	o       ThrottleOptions
	blocked *lru.Cache[string, time.Time]
}

func NewThrottle(store *Store, o ThrottleOptions) *Throttle {
	if o.Max <= 0 {
		o.Max = 10
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, f := range []*func(){&o.OnFailure, &o.OnBlocked} {
		if *f == nil {
			*f = func() {}
		}
	}
	blocked, _ := lru.New[string, time.Time](4096)
	return &Throttle{store: store, o: o, blocked: blocked}
}

// Check refuses an address that is blocked, whatever credentials it brings.
func (t *Throttle) Check(ctx context.Context, ip string) error {
	now := t.o.Now()
	if until, ok := t.blocked.Get(ip); ok {
		if now.Before(until) {
			return t.refuse(until, now)
		}
		t.blocked.Remove(ip)
	}
	until, err := t.store.authBlockedUntil(ctx, ip, t.o.Max, now)
	if err != nil {
		return err
	}
	if !until.IsZero() {
		t.blocked.Add(ip, until)
		return t.refuse(until, now)
	}
	return nil
}

// Fail counts a failed login of ip. The guess that reaches the limit still answers 401 (nil here); any
// that arrives beyond it, such as one of many sent in parallel, answers 429, so no more than Max wrong
// guesses per window ever learn that they were wrong.
func (t *Throttle) Fail(ctx context.Context, ip string) error {
	t.o.OnFailure()
	now := t.o.Now()
	n, until, err := t.store.recordAuthFailure(ctx, ip, now, t.o.Window)
	if err != nil {
		return err
	}
	if n < t.o.Max {
		return nil
	}
	t.blocked.Add(ip, until)
	if n == t.o.Max {
		t.o.Logger.Warn("1C login: too many failures from one address; refusing it until the window ends",
			"client_ip", ip, "failures", n, "window", t.o.Window.String(), "until", until)
		return nil
	}
	return t.refuse(until, now)
}

func (t *Throttle) refuse(until, now time.Time) error {
	t.o.OnBlocked()
	e := apperr.New(apperr.RateLimited, "too_many_failures", "too many failed 1C logins from this address; retry later")
	e.RetryAfter = until.Sub(now)
	if e.RetryAfter < time.Second {
		e.RetryAfter = time.Second
	}
	return e
}

// Purge forgets windows that have ended; run it now and then.
func (t *Throttle) Purge(ctx context.Context) error {
	return t.store.PurgeAuthFailures(ctx, t.o.Now())
}

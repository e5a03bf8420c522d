package onec

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func rateLimited(t *testing.T, err error) time.Duration {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.RateLimited {
		t.Fatalf("want a 429 error, got %v", err)
	}
	return ae.RetryAfter
}

func TestThrottle_BlocksAnAddressUntilItsWindowEndsAndNoOther(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		clock := &testClock{t: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
		var logs bytes.Buffer
		var failures, blocked atomic.Int64
		th := NewThrottle(NewStore(db), ThrottleOptions{Max: 3, Window: 10 * time.Minute, Now: clock.Now,
			Logger:    slog.New(slog.NewJSONHandler(&logs, nil)),
			OnFailure: func() { failures.Add(1) }, OnBlocked: func() { blocked.Add(1) }})
		const ip, other = "203.0.113.7", "198.51.100.9"
		for i := 0; i < 3; i++ {
			if err := th.Check(ctx, ip); err != nil {
				t.Fatalf("check before failure %d: %v", i+1, err)
			}
			if err := th.Fail(ctx, ip); err != nil {
				t.Fatalf("failure %d within the limit answered %v, want 401", i+1, err)
			}
			clock.Advance(time.Minute)
		}
		if n := strings.Count(logs.String(), `"level":"WARN"`); n != 1 || !strings.Contains(logs.String(), ip) {
			t.Fatalf("want one warning naming the address, got %s", logs.String())
		}
		// The window began at the first failure (09:00) and ends at 09:10; it is now 09:03.
		if wait := rateLimited(t, th.Check(ctx, ip)); wait != 7*time.Minute {
			t.Fatalf("Retry-After %v, want 7m (the rest of the window)", wait)
		}
		if err := th.Check(ctx, other); err != nil {
			t.Fatalf("another address is refused: %v", err)
		}
		// A second instance shares nothing but the database, and refuses the address too.
		th2 := NewThrottle(NewStore(db), ThrottleOptions{Max: 3, Window: 10 * time.Minute, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
		rateLimited(t, th2.Check(ctx, ip))

		clock.Advance(7*time.Minute - time.Millisecond)
		rateLimited(t, th.Check(ctx, ip))
		clock.Advance(time.Millisecond)
		for _, x := range []*Throttle{th, th2} {
			if err := x.Check(ctx, ip); err != nil {
				t.Fatalf("still refused after the window ended: %v", err)
			}
		}
		// A new window starts from the next failure, with a full allowance again.
		if err := th.Fail(ctx, ip); err != nil {
			t.Fatalf("first failure of a new window: %v", err)
		}
		if err := th.Check(ctx, ip); err != nil {
			t.Fatalf("refused after one failure in a new window: %v", err)
		}
		if failures.Load() != 4 || blocked.Load() != 2 { // th2's refusal has its own metrics
			t.Fatalf("metrics: %d failures, %d blocked; want 4 and 2", failures.Load(), blocked.Load())
		}
		if err := th.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Many wrong guesses at once from one address: only Max of them are told "wrong" (401), the rest 429.
func TestThrottle_ParallelGuessesBeyondTheLimitAreRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		th := NewThrottle(NewStore(db), ThrottleOptions{Max: 10, Window: 10 * time.Minute, Logger: slog.New(slog.DiscardHandler)})
		var told, refused atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := th.Fail(ctx, "203.0.113.7")
				switch {
				case err == nil:
					told.Add(1)
				case apperr.CodeOf(err) == apperr.RateLimited:
					refused.Add(1)
				default:
					t.Errorf("failure: %v", err)
				}
			}()
		}
		wg.Wait()
		if told.Load() != 10 || refused.Load() != 30 {
			t.Fatalf("%d guesses answered 401 and %d 429; want 10 and 30", told.Load(), refused.Load())
		}
	})
}

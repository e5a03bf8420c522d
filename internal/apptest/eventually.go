package apptest

import (
	"fmt"
	"testing"
	"time"
)

// EventuallyTimeout bounds Eventually; generous, since the CI machine is shared.
const EventuallyTimeout = 20 * time.Second

// Eventually waits until cond holds, checking it every few milliseconds, and fails the test with the
// message (a format and its arguments) if it does not hold within EventuallyTimeout.
func Eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	EventuallyWithin(t, EventuallyTimeout, cond, format, args...)
}

// EventuallyWithin is Eventually with its own bound.
func EventuallyWithin(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("not within %s: %s", timeout, fmt.Sprintf(format, args...))
		case <-tick.C:
		}
	}
}

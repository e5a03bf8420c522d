package apptest

import (
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/wait"
)

// EventuallyTimeout bounds Eventually; generous, since the CI machine is shared.
const EventuallyTimeout = wait.Timeout

// Eventually waits until cond holds, checking it every few milliseconds, and fails the test with the
// message (a format and its arguments) if it does not hold within EventuallyTimeout.
func Eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	wait.Until(t, cond, format, args...)
}

// EventuallyWithin is Eventually with its own bound.
func EventuallyWithin(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	wait.Within(t, timeout, cond, format, args...)
}

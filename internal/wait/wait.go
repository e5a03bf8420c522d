// Package wait is the one polling helper of the tests: wait.Until checks a condition every few
// milliseconds until it holds or a generous bound passes. It imports nothing of the service, so the
// internal tests of any package can use it; feature tests reach it as apptest.Eventually.
package wait

import (
	"fmt"
	"testing"
	"time"
)

// Timeout bounds Until; generous, since the CI machine is shared.
const Timeout = 20 * time.Second

// Until waits until cond holds, checking it every few milliseconds, and fails the test with the
// message (a format and its arguments) if it does not hold within Timeout.
func Until(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	Within(t, Timeout, cond, format, args...)
}

// Within is Until with its own bound.
func Within(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
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

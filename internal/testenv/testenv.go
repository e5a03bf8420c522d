// Package testenv decides what a test does when something it needs is not on the machine (a service
// URL, ffmpeg, Chromium, Node): on a developer's machine it is skipped with the reason; with CI set, as
// in .ci/run, which installs and starts all of it, it fails — a skipped test must not leave CI green.
package testenv

import (
	"os"
	"testing"
)

// Missing skips t, or fails it when CI is set; format says what is missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this must not be skipped: "+format, args...)
	}
	t.Skipf(format, args...)
}

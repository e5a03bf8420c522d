package testenv

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
)

// Chromium runs the browser at path with args and returns what it printed. A browser that dies by a
// signal (headless Chromium now and then segfaults while taking a screenshot, whatever the page) is
// run once more; any other failure fails t. Each run gets a profile directory of its own.
func Chromium(ctx context.Context, t testing.TB, path string, args ...string) []byte {
	t.Helper()
	for try := 1; ; try++ {
		cmd := exec.CommandContext(ctx, path, append([]string{"--user-data-dir=" + t.TempDir()}, args...)...)
		out, err := cmd.Output()
		if err == nil {
			return out
		}
		var exit *exec.ExitError
		crashed := errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() && ctx.Err() == nil
		if !crashed || try == 2 {
			stderr := ""
			if exit != nil {
				stderr = string(exit.Stderr)
			}
			t.Fatalf("chromium %v: %v\n%.2000s", args, err, stderr)
		}
		t.Logf("chromium crashed (%v); running it once more", err)
	}
}

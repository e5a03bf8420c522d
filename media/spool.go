package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/forteleasing/inspections/internal/limits"
)

// DefaultIdleTimeout is how long an object-store call may make no progress (FL_STORE_IDLE_TIMEOUT).
const DefaultIdleTimeout = 30 * time.Second

// spoolFile counts what is written to a spool file against the instance's spool budget.
type spoolFile struct {
	f     *os.File
	space *limits.Space
	n     int64
}

func (s *spoolFile) Write(p []byte) (int, error) {
	if err := s.space.Reserve(int64(len(p))); err != nil {
		return 0, err
	}
	n, err := s.f.Write(p)
	s.n += int64(len(p))
	return n, err
}

// release gives the file's bytes back to the budget (the file is gone or renamed into place).
func (s *spoolFile) release() {
	s.space.Release(s.n)
	s.n = 0
}

// storageErr marks what the disk under the service did, rather than the request, as ErrUnavailable:
// a full disk, a spent quota or a spent spool budget answer 503 and may be retried later.
func storageErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, limits.ErrSpaceExhausted) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// SweepTemps removes the .tmp-* files under the store that are older than minAge: what a crash
// in the middle of Put leaves behind. It returns how many it removed.
func (d *Disk) SweepTemps(ctx context.Context, minAge time.Duration) (int, error) {
	cutoff := d.now().Add(-minAge)
	removed := 0
	err := filepath.WalkDir(d.dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		info, err := e.Info()
		if isNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.ModTime().After(cutoff) {
			return nil // perhaps a Put in progress
		}
		if err := os.Remove(path); err != nil && !isNotExist(err) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("media: sweep temp files: %w", err)
	}
	return removed, nil
}

// watchdog cancels a call that has made no progress for idle: each touch (a byte of the body read by
// the client library, or the call returning) starts the wait again. A store that stops answering in
// the middle of a PUT blocks the library's write, so no read comes, and the call is cancelled.
type watchdog struct {
	mu     sync.Mutex
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelCauseFunc
}

var errNoProgress = errors.New("media: the store made no progress")

func newWatchdog(ctx context.Context, idle time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{idle: idle, cancel: cancel}
	w.timer = time.AfterFunc(idle, func() { cancel(fmt.Errorf("%w for %s", errNoProgress, idle)) })
	return ctx, w
}

func (w *watchdog) touch() {
	w.mu.Lock()
	w.timer.Reset(w.idle)
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(nil)
}

// watchedReader touches its watchdog on every read.
type watchedReader struct {
	r io.Reader
	w *watchdog
}

func (r watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.touch()
	}
	return n, err
}

// watchedReadCloser is Open's reader: it ends the call's watchdog when closed.
type watchedReadCloser struct {
	watchedReader
	c io.Closer
}

func (r watchedReadCloser) Close() error {
	err := r.c.Close()
	r.w.stop()
	return err
}

package resumable

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// Locker is tusd's per-upload lock kept in the database, so that it holds across instances (tusd's
// memorylocker only holds within one process). A lock is a lease that its holder renews while it works;
// a holder that died loses it when the lease runs out. A request that wants a held lock asks the holder
// to let go, as tusd's own lockers do: the older PATCH stops and keeps what it received.
type Locker struct {
	store *Store
	now   func() time.Time
	log   *slog.Logger
	// lease is how long a lock outlives its holder's last renewal; renew and poll are how often the
	// holder renews (and looks for release requests) and how often a waiter tries again.
	lease, renew, poll time.Duration
}

func newLocker(store *Store, now func() time.Time, log *slog.Logger) *Locker {
	return &Locker{store: store, now: now, log: log, lease: 30 * time.Second, renew: 500 * time.Millisecond, poll: 100 * time.Millisecond}
}

func (l *Locker) NewLock(id string) (handler.Lock, error) {
	return &dbLock{l: l, id: id, holder: randomID()}, nil
}

type dbLock struct {
	l      *Locker
	id     string
	holder string
	stop   chan struct{}
	done   sync.WaitGroup
}

// Lock takes the lock, asking its holder once to let go, until ctx ends: then a lock another holder
// kept is tus's 423 (ERR_UPLOAD_LOCKED: clients retry it), not tusd's 500 for a timeout. A holder that
// died mid-PATCH keeps the lock until its lease runs out; its upload is locked, the server is not broken.
func (k *dbLock) Lock(ctx context.Context, requestUnlock func()) error {
	asked, held := false, false
	for {
		now := k.l.now()
		ok, err := k.l.store.tryLock(ctx, k.id, k.holder, now, now.Add(k.l.lease))
		if err != nil && ctx.Err() == nil {
			return err
		}
		if ok {
			k.stop = make(chan struct{})
			k.done.Add(1)
			go k.keep(requestUnlock)
			return nil
		}
		held = held || err == nil
		if !asked && err == nil {
			if err := k.l.store.requestRelease(ctx, k.id); err != nil && ctx.Err() == nil {
				return err
			}
			asked = true
		}
		select {
		case <-ctx.Done():
			if held {
				return handler.ErrFileLocked
			}
			return handler.ErrLockTimeout
		case <-time.After(k.l.poll):
		}
	}
}

// keep renews the lease until Unlock, and passes on a release request once.
func (k *dbLock) keep(requestUnlock func()) {
	defer k.done.Done()
	t := time.NewTicker(k.l.renew)
	defer t.Stop()
	told := false
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		held, release, err := k.l.store.renew(ctx, k.id, k.holder, k.l.now().Add(k.l.lease))
		cancel()
		if err != nil {
			k.l.log.Warn("resumable: renew upload lock", "upload", k.id, "err", err)
			continue
		}
		if (release || !held) && !told && requestUnlock != nil {
			told = true
			requestUnlock()
		}
	}
}

func (k *dbLock) Unlock() error {
	if k.stop != nil {
		close(k.stop)
		k.done.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return k.l.store.unlock(ctx, k.id, k.holder)
}

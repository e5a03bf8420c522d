package resumable

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// An instance that died mid-PATCH keeps its lock until the lease runs out. A request for that upload
// meanwhile gets tus's 423, which clients retry, not tusd's 500 for a lock timeout; once the lease
// has run out it takes the lock. The holder is asked to let go, as tus wants.
func TestLocker_LockOfADeadHolderIs423UntilItsLeaseRunsOut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		store := NewStore(db)
		now := time.Now()
		clock := func() time.Time { return now }
		l := newLocker(store, clock, slog.New(slog.DiscardHandler))
		l.poll = time.Millisecond

		dead := &dbLock{l: l, id: "u1", holder: "dead-instance"}
		if ok, err := store.tryLock(ctx, dead.id, dead.holder, now, now.Add(l.lease)); err != nil || !ok {
			t.Fatalf("the dead instance's lock: %v %v", ok, err)
		}

		wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := (&dbLock{l: l, id: "u1", holder: "live"}).Lock(wait, nil)
		var tusErr handler.Error
		if !errors.As(err, &tusErr) || tusErr.HTTPResponse.StatusCode != http.StatusLocked {
			t.Fatalf("waiting on a held lock: %v, want 423 %v", err, handler.ErrFileLocked)
		}
		var asked bool
		if err := db.GetContext(ctx, &asked, `SELECT release_requested FROM resumable_locks WHERE upload_id = 'u1'`); err != nil || !asked {
			t.Fatalf("release requested: %v %v", asked, err)
		}

		now = now.Add(l.lease + time.Second) // the dead holder never renewed
		live := &dbLock{l: l, id: "u1", holder: "live"}
		if err := live.Lock(ctx, nil); err != nil {
			t.Fatalf("after the lease: %v", err)
		}
		if err := live.Unlock(); err != nil {
			t.Fatal(err)
		}

		// A wait that ends before the lock could even be asked for (the database is slow or gone) is
		// still tusd's timeout, not a claim that someone holds the upload.
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if err := (&dbLock{l: l, id: "u2", holder: "live"}).Lock(gone, nil); !errors.Is(err, handler.ErrLockTimeout) {
			t.Fatalf("cancelled before asking: %v, want %v", err, handler.ErrLockTimeout)
		}
	})
}

package database

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Batch groups concurrent small writes of one kind (a refresh token's rotation) into one transaction
// on SQLite: its one writer then commits, and writes its WAL frames, once for all that arrived while
// the previous write ran, instead of once each — under concurrent refreshes the commits were a
// quarter of a refresh's CPU and all of the time the others queued for the writer. Each item runs in
// that transaction under a savepoint of its own: an item that fails is undone whole, and alone. On
// PostgreSQL, whose server groups concurrent commits itself, each item
// runs in a transaction of its own.
type Batch[T, R any] struct {
	db    *DB
	run   func(ctx context.Context, tx *sqlx.Tx, item T) (R, error)
	mu    sync.Mutex
	queue []*batched[T, R]
}

type batched[T, R any] struct {
	item T
	r    R
	err  error
	done chan struct{}
}

// NewBatch makes a batch that runs each item with run.
func NewBatch[T, R any](db *DB, run func(ctx context.Context, tx *sqlx.Tx, item T) (R, error)) *Batch[T, R] {
	return &Batch[T, R]{db: db, run: run}
}

// Do runs item, alone or with others, and returns its result once its transaction has committed.
func (b *Batch[T, R]) Do(ctx context.Context, item T) (R, error) {
	if b.db.writer == nil {
		var r R
		err := b.db.InTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			r, err = b.run(ctx, tx, item)
			return err
		})
		return r, err
	}
	ctx, cancel := b.db.bound(ctx)
	defer cancel()
	me := &batched[T, R]{item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, me)
	b.mu.Unlock()
	select {
	case <-me.done: // another caller's transaction ran it
	case b.db.writer <- struct{}{}:
		// Whoever holds the writer runs everything queued; a leader takes the queue only while it holds
		// the writer and finishes it before letting go, so ours is in this batch or already done.
		b.mu.Lock()
		batch := b.queue
		b.queue = nil
		b.mu.Unlock()
		if len(batch) > 0 {
			// The batch carries other callers' items: it must not end with this caller's context.
			b.runBatch(context.WithoutCancel(ctx), batch)
		}
		<-b.db.writer
		<-me.done
	case <-ctx.Done():
		b.mu.Lock()
		i := slices.Index(b.queue, me)
		if i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
		}
		b.mu.Unlock()
		if i >= 0 {
			var zero R
			return zero, fmt.Errorf("database: waiting for the writer: %w", ctx.Err())
		}
		<-me.done // a leader has it and finishes it
	}
	return me.r, me.err
}

func (b *Batch[T, R]) runBatch(ctx context.Context, batch []*batched[T, R]) {
	ctx, cancel := b.db.bound(ctx)
	defer cancel()
	err := b.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if len(batch) == 1 { // the transaction is the item's own: no savepoint needed
			it := batch[0]
			it.r, it.err = b.run(ctx, tx, it.item)
			return it.err
		}
		for _, it := range batch {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT batch_item`); err != nil {
				return err
			}
			it.r, it.err = b.run(ctx, tx, it.item)
			if it.err != nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT batch_item`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT batch_item`); err != nil {
				return err
			}
		}
		return nil
	})
	for _, it := range batch {
		if err != nil && it.err == nil {
			var zero R
			it.r, it.err = zero, err
		}
		close(it.done)
	}
}

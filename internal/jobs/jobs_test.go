package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

func TestQueue_InstancesStartingTogetherMigrateRiverOnce(t *testing.T) {
	url := dbtest.PostgresURL(t)
	ctx := context.Background()
	db, err := database.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			q := New(db)
			Add(q, &echoWorker{})
			errs[i] = q.Open(ctx, Options{})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM river_migration`); err != nil || n == 0 {
		t.Fatalf("river_migration: %d rows, %v", n, err)
	}
}

type echoArgs struct {
	N int `json:"n"`
}

func (echoArgs) Kind() string { return "echo" }

type echoWorker struct {
	river.WorkerDefaults[echoArgs]
	mu   sync.Mutex
	seen []int
}

func (w *echoWorker) Work(_ context.Context, j *river.Job[echoArgs]) error {
	w.mu.Lock()
	w.seen = append(w.seen, j.Args.N)
	w.mu.Unlock()
	return nil
}

func (w *echoWorker) got() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.seen...)
}

// A job inserted in a transaction that rolls back never runs; one that commits does.
func TestQueue_InsertTxCommitsAndRollsBackWithTheTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		q := New(db)
		w := &echoWorker{}
		Add(q, w)
		if err := q.Open(ctx, Options{}); err != nil {
			t.Fatal(err)
		}
		rolledBack := db.InTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := q.InsertTx(ctx, tx.Tx, echoArgs{N: 1}, nil); err != nil {
				return err
			}
			return context.Canceled // the change fails after the job was queued
		})
		if rolledBack == nil {
			t.Fatal("the transaction committed")
		}
		if err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			_, err := q.InsertTx(ctx, tx.Tx, echoArgs{N: 2}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		events, cancel := q.Subscribe(river.EventKindJobCompleted)
		defer cancel()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = q.Stop(ctx) }()
		select {
		case <-events:
		case <-time.After(20 * time.Second):
			t.Fatal("the committed job did not run")
		}
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM river_job`); err != nil || n != 1 {
			t.Fatalf("%d jobs stored (%v): the rolled-back one must not be", n, err)
		}
		if got := w.got(); len(got) != 1 || got[0] != 2 {
			t.Fatalf("ran %v, want [2]", got)
		}
	})
}

func TestQueue_InsertBeforeOpenFails(t *testing.T) {
	q := New(dbtest.SQLite(t))
	if _, err := q.Insert(context.Background(), echoArgs{}, nil); err != ErrNotOpen {
		t.Fatalf("got %v", err)
	}
}

package database_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// Concurrent items all commit, each with its own result; an item that fails (a duplicate) fails alone.
func TestBatch_ConcurrentItemsCommitWithTheirOwnResults(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		db.SetMaxOpenConns(8) // the shared PostgreSQL serves 100 connections to every package's tests at once
		if _, err := db.ExecContext(ctx, `CREATE TABLE batch_items (id BIGINT PRIMARY KEY, label TEXT NOT NULL UNIQUE)`); err != nil {
			t.Fatal(err)
		}
		b := database.NewBatch(db, func(ctx context.Context, tx *sqlx.Tx, n int) (string, error) {
			label := fmt.Sprintf("item-%d", n%40) // 40..49 repeat 0..9: duplicates
			if _, err := tx.ExecContext(ctx, `INSERT INTO batch_items (id, label) VALUES ($1, $2)`, n, label); err != nil {
				return "", err
			}
			return label, nil
		})
		const n = 50
		labels, errs := make([]string, n), make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); labels[i], errs[i] = b.Do(ctx, i) }()
		}
		wg.Wait()
		failed := 0
		for i, err := range errs {
			switch {
			case err == nil && labels[i] != fmt.Sprintf("item-%d", i%40):
				t.Fatalf("item %d: label %q", i, labels[i])
			case err != nil && !database.IsUniqueViolation(err):
				t.Fatalf("item %d: %v", i, err)
			case err != nil:
				failed++
			}
		}
		var rows int
		if err := db.GetContext(ctx, &rows, `SELECT count(*) FROM batch_items`); err != nil || rows != n-failed || failed != 10 {
			t.Fatalf("%d rows, %d failed (want 40 and 10): %v", rows, failed, err)
		}
	})
}

// A caller whose context ends while it waits for the writer gets its context's error, and its item
// never runs.
func TestBatch_CallerGivesUpWhileTheWriterIsBusy(t *testing.T) {
	db := dbtest.SQLite(t)
	ran := false
	b := database.NewBatch(db, func(context.Context, *sqlx.Tx, int) (int, error) { ran = true; return 1, nil })
	release, held := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.InTx(context.Background(), func(*sqlx.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Do(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	close(release)
	if v, err := b.Do(context.Background(), 2); err != nil || v != 1 {
		t.Fatalf("after the writer is free: %d, %v", v, err)
	}
	if !ran {
		t.Fatal("the second item did not run")
	}
}

// An item whose second statement fails leaves nothing of its first behind, while the items batched with
// it commit.
func TestBatch_AFailedItemIsUndoneWhole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE batch_pairs (id BIGINT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		// Item n writes n and then 1000+n; item 7's second write collides with what item 0 wrote.
		b := database.NewBatch(db, func(ctx context.Context, tx *sqlx.Tx, n int) (int, error) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO batch_pairs (id) VALUES ($1)`, n); err != nil {
				return 0, err
			}
			second := 1000 + n
			if n == 7 {
				second = 1000
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO batch_pairs (id) VALUES ($1)`, second)
			return n, err
		})
		if _, err := b.Do(ctx, 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := 1; i < 10; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = b.Do(ctx, i) }()
		}
		wg.Wait()
		for i, err := range errs {
			if (i == 7) != (err != nil) {
				t.Fatalf("item %d: %v", i, err)
			}
		}
		var seven int
		if err := db.GetContext(ctx, &seven, `SELECT count(*) FROM batch_pairs WHERE id = 7`); err != nil || seven != 0 {
			t.Fatalf("the failed item's first write: %d rows, %v", seven, err)
		}
		var rows int
		if err := db.GetContext(ctx, &rows, `SELECT count(*) FROM batch_pairs`); err != nil || rows != 18 {
			t.Fatalf("%d rows, want 18 (9 items × 2): %v", rows, err)
		}
	})
}

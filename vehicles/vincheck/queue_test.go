package vincheck

import (
	"context"
	"sync"
	"testing"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

func TestVINCheck_InstancesStartingTogetherMigrateRiverOnce(t *testing.T) {
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
			s, err := Open(ctx, db, NewChecker(Providers{}, nil), Options{DatabaseURL: url})
			if err == nil {
				err = s.Stop(ctx)
			}
			errs[i] = err
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

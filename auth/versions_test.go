package auth

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// A version read never comes from a read that started before the request: after a bump commits,
// every request that starts sees it, while other requests (some giving up at once) keep reads in
// flight for the same and other companies.
func TestVersionReads_SeeEveryBumpCommittedBeforeTheRequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		s := NewStore(db)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ids := make([]int64, 4)
		for i := range ids {
			now := time.Now().UTC()
			if err := db.QueryRowxContext(ctx, `INSERT INTO companies (biin, name, email, created_at, updated_at)
				VALUES ($1, 'c', 'c@example.kz', $2, $2) RETURNING id`, fmt.Sprintf("9900000000%02d", i), now).Scan(&ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var background sync.WaitGroup
		for g := range 8 {
			background.Add(1)
			go func() {
				defer background.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					rctx := ctx
					if g%2 == 1 { // gives up at once: leaves the queue or its read, never stalls the others
						var c context.CancelFunc
						rctx, c = context.WithTimeout(ctx, time.Microsecond)
						defer c()
					}
					_, _, _ = s.companyVersions(rctx, ids[g%len(ids)])
				}
			}()
		}
		for round := 1; round <= 40; round++ {
			id := ids[round%len(ids)]
			if err := db.InTx(ctx, func(tx *sqlx.Tx) error { return BumpAuthVersion(ctx, tx, id) }); err != nil {
				t.Fatal(err)
			}
			var want int64
			if err := db.GetContext(ctx, &want, `SELECT version FROM auth_versions WHERE company_id = $1`, id); err != nil {
				t.Fatal(err)
			}
			var readers sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					got, lists, err := s.companyVersions(ctx, id)
					switch {
					case err != nil:
						errs <- err
					case got < want || lists.Auth != got+1 || lists.Lists < 1:
						errs <- fmt.Errorf("round %d: read auth version %d (lists %+v), want ≥ %d", round, got, lists, want)
					}
				}()
			}
			readers.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		close(stop)
		background.Wait()
	})
}

package auth

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/database"
)

// companyVersion is what the access check reads of a company per request (companyVersions).
type companyVersion struct {
	auth  int64
	lists inspections.ListVersions
}

// versionReads batches the access check's version reads on PostgreSQL, where each was a round trip
// and a statement of the server's for every request: one statement reads the versions of every
// company whose requests are waiting. A request joins only a read that starts after it arrived —
// never one already running, which could have missed a revocation committed just before the request
// came — so a revocation still refuses the very next request on every instance. One read runs at a
// time; the requests that arrive meanwhile make up the next one, led by the first of them.
type versionReads struct {
	store   *Store
	mu      sync.Mutex
	queue   []*versionWait
	running bool
}

type versionWait struct {
	companyID int64
	deadline  time.Time
	v         companyVersion
	err       error
	leader    bool          // appointed to run the next read (r.mu)
	lead      chan struct{} // closed on appointment
	done      chan struct{} // closed when v and err are set
}

// maxVersionBatch bounds one read's companies.
const maxVersionBatch = 256

func (r *versionReads) read(ctx context.Context, companyID int64) (companyVersion, error) {
	// Bounded from its arrival, waiting included: behind a read that hangs, a request gives up when
	// its own call deadline passes, not after that read's and then its own.
	timeout := r.store.db.Timeout()
	if timeout <= 0 {
		timeout = database.DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	w := &versionWait{companyID: companyID, deadline: deadline, lead: make(chan struct{}), done: make(chan struct{})}
	r.mu.Lock()
	r.queue = append(r.queue, w)
	if !r.running {
		r.running = true
		r.appoint(w)
	}
	r.mu.Unlock()
	select {
	case <-w.done:
		return w.v, w.err
	case <-w.lead:
	case <-ctx.Done():
		r.mu.Lock()
		i := -1
		if !w.leader {
			i = slices.Index(r.queue, w)
		}
		if i >= 0 {
			r.queue = slices.Delete(r.queue, i, i+1)
		}
		r.mu.Unlock()
		if i >= 0 {
			return companyVersion{}, ctx.Err()
		}
		// Taken into a read, or appointed to lead the next: it cannot be given up now.
		select {
		case <-w.done:
			return w.v, w.err
		case <-w.lead:
		}
	}
	r.runNext(ctx)
	<-w.done
	return w.v, w.err
}

// appoint makes w, queued, the leader of the next read. r.mu is held.
func (r *versionReads) appoint(w *versionWait) {
	w.leader = true
	close(w.lead)
}

// runNext runs one read for the queue as it is now, then hands the lead to the first request that
// arrived meanwhile, if any.
func (r *versionReads) runNext(ctx context.Context) {
	r.mu.Lock()
	n := min(len(r.queue), maxVersionBatch)
	batch := slices.Clone(r.queue[:n])
	r.queue = slices.Delete(r.queue, 0, n)
	r.mu.Unlock()

	// The read serves other requests too: it must not end with this one's context, but by the
	// deadline of the earliest of them (the queue is in order of arrival).
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), batch[0].deadline)
	got, err := r.store.versionsOf(rctx, batch)
	cancel()
	for _, w := range batch {
		w.v, w.err = got[w.companyID], err
		close(w.done)
	}

	r.mu.Lock()
	if len(r.queue) > 0 {
		r.appoint(r.queue[0])
	} else {
		r.running = false
	}
	r.mu.Unlock()
}

// versionsOf reads the versions of the batch's companies in one statement.
func (s *Store) versionsOf(ctx context.Context, batch []*versionWait) (map[int64]companyVersion, error) {
	ids := make([]int64, 0, len(batch))
	for _, w := range batch {
		ids = append(ids, w.companyID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		CompanyID int64 `db:"company_id"`
		Auth      int64 `db:"auth"`
		Lists     int64 `db:"lists"`
		Fleet     int64 `db:"fleet"`
	}
	if err := s.db.SelectPrepared(ctx, &rows, `SELECT c.id AS company_id, COALESCE(av.version, 0) AS auth,
		COALESCE(lv.reports + lv.fleet, 0) + 1 AS lists, COALESCE(lv.fleet, 0) + 1 AS fleet
		FROM (SELECT value::bigint AS id FROM json_array_elements_text($1::json)) c
		LEFT JOIN auth_versions av ON av.company_id = c.id LEFT JOIN list_versions lv ON lv.company_id = c.id`,
		string(list)); err != nil {
		return nil, err
	}
	out := make(map[int64]companyVersion, len(rows))
	for _, row := range rows {
		out[row.CompanyID] = companyVersion{auth: row.Auth,
			lists: inspections.ListVersions{Lists: row.Lists, Fleet: row.Fleet, Auth: row.Auth + 1}}
	}
	return out, nil
}

// batchedVersions reports whether the access check's version reads are batched (PostgreSQL; SQLite
// reads in-process, where a statement costs less than the batching would).
func (s *Store) batchedVersions() bool { return s.db.Dialect == database.Postgres }

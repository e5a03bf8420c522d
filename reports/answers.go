package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	inspections "github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/auth"
)

// The list answers and the fleet blocks inside them are cached against the company's list versions
// (migration 00020): every write to a report (1C batch, upload, decision) moves its company's, every 1C
// batch of vehicles those of the companies it touches, and of vehicle types everyone's, so an entry
// built at the current version is current. Reading the versions is a primary-key lookup (done with the
// access check), where building the general filter answer of a 10,000-vehicle company is the list
// query, the fleet blocks and ~100 KB of JSON (README, Performance). cacheTTL bounds what the versions
// do not see: the expiry flag turning on as time passes.

const (
	cacheTTL = 5 * time.Second
	// answerEntries bounds the memory: one answer is at most a few hundred KB (500 reports or vehicles).
	answerEntries = 256
	fleetEntries  = 4096
)

type answerKey struct {
	kind      byte // 'g' general filter, 'v' vehicle filter, 'o' the login answer's blocks
	companyID int64
	filter    Filter
	page      Page
}

// overviewParts are the login answer's blocks, encoded, and the same as one fragment of that answer
// with its DEFLATE form.
type overviewParts struct {
	parts   []json.RawMessage
	spliced *inspections.Fragment
}

type fleetEntry struct {
	version int64
	built   time.Time
	blocks  fleetBlocks
}

// answerCache keeps built answers of type V against the company's lists version, building each key and
// version once at a time. The HTTP layer keeps the sendable list answers in one (http.go), the service
// the login answer's blocks in another.
type answerCache[V any] struct {
	entries *lru.Cache[answerKey, answerEntry[V]]
	// One build per key and version at a time: after a write, every request in flight for the same
	// list would otherwise rebuild the same answer at once (rebuilds were 41 % of the CPU under 1C
	// writes, and JSON and gzip of the copies another 28 %).
	flights flights[versionedKey[answerKey], V]
	now     func() time.Time
}

type answerEntry[V any] struct {
	version int64
	built   time.Time
	v       V
}

func newAnswerCache[V any](now func() time.Time) *answerCache[V] {
	entries, err := lru.New[answerKey, answerEntry[V]](answerEntries)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return &answerCache[V]{entries: entries, flights: flights[versionedKey[answerKey], V]{calls: map[versionedKey[answerKey]]*flight[V]{}}, now: now}
}

// get returns the entry for key built at version, building it with build when the cached one is
// missing, older than version or than cacheTTL. The caller reads version before building, so a change
// racing the build only makes the next request build again.
func (c *answerCache[V]) get(ctx context.Context, key answerKey, version int64, build func() (V, error)) (V, error) {
	if e, ok := c.entries.Get(key); ok && fresh(c.now, e.version, e.built, version) {
		return e.v, nil
	}
	return c.flights.do(ctx, versionedKey[answerKey]{key, version}, func() (V, error) {
		if e, ok := c.entries.Get(key); ok && fresh(c.now, e.version, e.built, version) {
			return e.v, nil // built by the flight that ended just before this one began
		}
		v, err := build()
		if err != nil {
			return v, err
		}
		c.entries.Add(key, answerEntry[V]{version: version, built: c.now(), v: v})
		return v, nil
	})
}

// The plain LRU with the age checked on read: the expirable one of golang-lru v2.0.7 starts a reaper
// goroutine per cache that can panic (hashicorp/golang-lru#181) and never stops.
type caches struct {
	overviews    *answerCache[overviewParts]
	fleet        *lru.Cache[int64, fleetEntry]
	fleetFlights flights[versionedKey[int64], fleetBlocks]
}

type versionedKey[K comparable] struct {
	key     K
	version int64
}

func newCaches(now func() time.Time) caches {
	fleet, err := lru.New[int64, fleetEntry](fleetEntries)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return caches{overviews: newAnswerCache[overviewParts](now), fleet: fleet,
		fleetFlights: flights[versionedKey[int64], fleetBlocks]{calls: map[versionedKey[int64]]*flight[fleetBlocks]{}}}
}

// flights runs one call per key at a time; callers of a key already running wait for its result.
type flights[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*flight[V]
}

type flight[V any] struct {
	done    chan struct{}
	waiters int // callers waiting for this one, under flights.mu
	v       V
	err     error
}

// do returns fn's result for key, calling fn unless a call for key is running, in which case it waits for
// that one (or for ctx). A waiter whose leader failed calls fn itself: the leader's context may have
// ended (its client went away) while the waiter's has not.
func (f *flights[K, V]) do(ctx context.Context, key K, fn func() (V, error)) (V, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		c.waiters++
		f.mu.Unlock()
		select {
		case <-c.done:
			if c.err == nil {
				return c.v, nil
			}
			return fn()
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	c := &flight[V]{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = fn()
	return c.v, c.err
}

// fresh tells whether an entry built at version and time may still be served.
func fresh(now func() time.Time, entryVersion int64, built time.Time, version int64) bool {
	return entryVersion == version && now().Sub(built) < cacheTTL
}

// versions are the company's list versions (migration 00020): lists moves with every write to its
// reports, vehicles or their types, fleet with those to vehicles and types only.
type versions struct{ lists, fleet int64 }

// versionsOf reads the company's list versions: one primary-key read per cached answer.
func (s *Service) versionsOf(ctx context.Context, p auth.Principal) (versions, error) {
	return s.store.listsVersions(ctx, p.CompanyID)
}

// encodedParts is each of vs encoded.
func encodedParts(vs ...any) ([]json.RawMessage, error) {
	parts := make([]json.RawMessage, len(vs))
	for i, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("reports: encode answer: %w", err)
		}
		parts[i] = b
	}
	return parts, nil
}

// fleetOf returns the company's types (with instructions) and filter block as of its fleet version,
// from the cache when built at that version: a new report does not rebuild them. Callers must not modify what they get.
func (s *Service) fleetOf(ctx context.Context, p auth.Principal, version int64) (fleetBlocks, error) {
	if e, ok := s.cache.fleet.Get(p.CompanyID); ok && fresh(s.now, e.version, e.built, version) {
		return e.blocks, nil
	}
	return s.cache.fleetFlights.do(ctx, versionedKey[int64]{p.CompanyID, version}, func() (fleetBlocks, error) {
		if e, ok := s.cache.fleet.Get(p.CompanyID); ok && fresh(s.now, e.version, e.built, version) {
			return e.blocks, nil
		}
		types, _, err := s.store.types(ctx, p.CompanyID, 0)
		if err != nil {
			return fleetBlocks{}, err
		}
		filter, err := s.filterBlock(ctx, p)
		if err != nil {
			return fleetBlocks{}, err
		}
		b := fleetBlocks{types: types, filter: filter}
		s.cache.fleet.Add(p.CompanyID, fleetEntry{version: version, built: s.now(), blocks: b})
		return b, nil
	})
}

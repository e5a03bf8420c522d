package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/httpx"
)

// The list answers and the fleet blocks inside them are cached against the change counter: every
// write to a report (1C batch, upload, decision) and every 1C batch of vehicles or vehicle types takes
// its next number, so an entry built at the current number is current. Reading the counter is one
// primary-key lookup, where building the general filter answer of a 10,000-vehicle company is the list
// query, the fleet blocks and ~100 KB of JSON (README, Performance). cacheTTL bounds what the counter
// does not see: the expiry flag turning on as time passes.

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

type cachedAnswer struct {
	version int64
	built   time.Time
	answer  *httpx.Prepared   // the whole answer, ready to send
	parts   []json.RawMessage // or its blocks, for the login answer
}

type fleetEntry struct {
	version int64
	built   time.Time
	blocks  fleetBlocks
}

// The plain LRU with the age checked on read: the expirable one of golang-lru v2.0.7 starts a reaper
// goroutine per cache that can panic (hashicorp/golang-lru#181) and never stops.
type caches struct {
	answers *lru.Cache[answerKey, cachedAnswer]
	fleet   *lru.Cache[int64, fleetEntry]
}

func newCaches() caches {
	answers, err := lru.New[answerKey, cachedAnswer](answerEntries)
	if err != nil {
		panic(err) // only for a size < 1
	}
	fleet, err := lru.New[int64, fleetEntry](fleetEntries)
	if err != nil {
		panic(err)
	}
	return caches{answers: answers, fleet: fleet}
}

// fresh tells whether an entry built at version and time may still be served.
func (s *Service) fresh(entryVersion int64, built time.Time, version int64) bool {
	return entryVersion == version && s.now().Sub(built) < cacheTTL
}

// cached returns the entry for key, building it with build when the cached one is missing or older
// than the counter. The counter is read before building, so a change racing the build only makes the
// next request build again.
func (s *Service) cached(ctx context.Context, p auth.Principal, key answerKey, build func(version int64) (cachedAnswer, error)) (cachedAnswer, error) {
	version := p.ChangeCounter // read with the access check
	if version == 0 {
		var err error
		if version, err = s.store.listsVersion(ctx); err != nil {
			return cachedAnswer{}, err
		}
	}
	if c, ok := s.cache.answers.Get(key); ok && s.fresh(c.version, c.built, version) {
		return c, nil
	}
	c, err := build(version)
	if err != nil {
		return cachedAnswer{}, err
	}
	c.version, c.built = version, s.now()
	s.cache.answers.Add(key, c)
	return c, nil
}

// prepared is an entry holding v as a ready answer, for cached's build functions.
func prepared(v any, err error) (cachedAnswer, error) {
	if err != nil {
		return cachedAnswer{}, err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return cachedAnswer{}, fmt.Errorf("reports: encode answer: %w", err)
	}
	p, err := httpx.Prepare(body)
	if err != nil {
		return cachedAnswer{}, err
	}
	return cachedAnswer{answer: p}, nil
}

// encodedParts is an entry holding each of vs encoded.
func encodedParts(vs ...any) (cachedAnswer, error) {
	c := cachedAnswer{parts: make([]json.RawMessage, len(vs))}
	for i, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return cachedAnswer{}, fmt.Errorf("reports: encode answer: %w", err)
		}
		c.parts[i] = b
	}
	return c, nil
}

// fleetOf returns the company's types (with instructions) and filter block as of version, from the
// cache when built at that version. Callers must not modify what they get.
func (s *Service) fleetOf(ctx context.Context, p auth.Principal, version int64) (fleetBlocks, error) {
	if e, ok := s.cache.fleet.Get(p.CompanyID); ok && s.fresh(e.version, e.built, version) {
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
}

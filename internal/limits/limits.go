// Package limits caps what one client, or all of them, can hold at once on this instance: concurrent
// uploads per user and bytes spooled to disk.
package limits

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Slots allows at most Per concurrent holders per key (a user's uploads: plain and tus PATCH share them).
type Slots struct {
	per  int
	mu   sync.Mutex
	held map[int64]int
}

// NewSlots allows per holders per key; per < 1 means 1.
func NewSlots(per int) *Slots {
	return &Slots{per: max(per, 1), held: map[int64]int{}}
}

// Per is the number of slots each key has.
func (s *Slots) Per() int { return s.per }

// Acquire takes a slot of key; ok is false when all are held. release gives it back (once).
func (s *Slots) Acquire(key int64) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key] >= s.per {
		return nil, false
	}
	s.held[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.held[key]--; s.held[key] <= 0 {
				delete(s.held, key)
			}
		})
	}, true
}

// ErrSpaceExhausted means the budget has no room for the bytes asked for.
var ErrSpaceExhausted = errors.New("limits: spool space exhausted")

// Space is a byte budget shared by every spool file of the instance.
type Space struct {
	max  int64
	used atomic.Int64
}

// NewSpace allows max bytes in all; max <= 0 means no limit.
func NewSpace(max int64) *Space { return &Space{max: max} }

// Reserve takes n bytes of the budget, or fails with ErrSpaceExhausted and takes nothing.
func (s *Space) Reserve(n int64) error {
	if s == nil || s.max <= 0 {
		return nil
	}
	if s.used.Add(n) > s.max {
		s.used.Add(-n)
		return ErrSpaceExhausted
	}
	return nil
}

// Release gives n reserved bytes back.
func (s *Space) Release(n int64) {
	if s != nil && s.max > 0 {
		s.used.Add(-n)
	}
}

// Used is the number of bytes reserved now.
func (s *Space) Used() int64 {
	if s == nil {
		return 0
	}
	return s.used.Load()
}

// Held is the number of slots of key taken now.
func (s *Slots) Held(key int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[key]
}

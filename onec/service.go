package onec

import (
	"time"

	"github.com/forteleasing/inspections"
)

// Service holds the rules of the 1C API: validate a whole batch first, then write it all or nothing.
type Service struct {
	store  *Store
	now    func() time.Time
	videos VideoURLs
	checks inspections.VINChecks
	notify Notifier
}

// Options wires what the 1C API needs from other features; nil ones are left out (no links, no
// vin_check, no pushes).
type Options struct {
	Now      func() time.Time
	Videos   VideoURLs
	Checks   inspections.VINChecks
	Notifier Notifier
}

func NewService(store *Store, o Options) *Service {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: func() time.Time { return now().UTC() }, videos: o.Videos, checks: o.Checks, notify: o.Notifier}
}

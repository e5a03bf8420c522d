package onec

import (
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/authenticity"
)

// Service holds the rules of the 1C API: validate a whole batch first, then write it all or nothing.
type Service struct {
	store  *Store
	now    func() time.Time
	videos VideoURLs
	checks inspections.VINChecks
	notify Notifier

	authenticity inspections.AuthenticityChecks
	review       *reviewLinks
	reviewCfg    authenticity.Config
	media        VideoRanges
}

// Options wires what the 1C API needs from other features; nil ones are left out (no links, no
// vin_check, no pushes).
type Options struct {
	Now      func() time.Time
	Videos   VideoURLs
	Checks   inspections.VINChecks
	Notifier Notifier
	// Authenticity adds each upload's analysis to the feed; nil leaves the key null.
	Authenticity inspections.AuthenticityChecks
	// Review signs the review page links (review_url); zero Key: no links and no page.
	Review ReviewOptions
	// Media plays the video on the review page.
	Media VideoRanges
}

func NewService(store *Store, o Options) *Service {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{store: store, now: func() time.Time { return now().UTC() }, videos: o.Videos, checks: o.Checks, notify: o.Notifier,
		authenticity: o.Authenticity, media: o.Media, reviewCfg: o.Review.Rules}
	if s.reviewCfg.MaxRecordingAge == 0 {
		s.reviewCfg = authenticity.DefaultConfig()
	}
	if len(o.Review.Key) > 0 {
		s.review = newReviewLinks(o.Review, s.now)
	}
	return s
}

package onec

import "time"

// Service holds the rules of the 1C API: validate a whole batch first, then write it all or nothing.
type Service struct {
	store *Store
	now   func() time.Time
}

func NewService(store *Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: func() time.Time { return now().UTC() }}
}

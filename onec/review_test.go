package onec

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestReviewLinks_ExpireAndRefuseAnyChange(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := newReviewLinks(ReviewOptions{PublicURL: "https://api.example.kz/", Key: []byte("0123456789abcdef0123456789abcdef")}, clock)
	raw := l.url("646ba713-d1d7-11ec-9405-005056aaa4ae")
	if !strings.HasPrefix(raw, "https://api.example.kz/review/646ba713-d1d7-11ec-9405-005056aaa4ae?expires=") {
		t.Fatalf("url %s", raw)
	}
	u, _ := url.Parse(raw)
	ref, exp, sig := strings.TrimPrefix(u.Path, "/review/"), u.Query().Get("expires"), u.Query().Get("signature")
	if at, err := l.verify(ref, exp, sig); err != nil || !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("a fresh link: %v %v", at, err)
	}
	for name, c := range map[string][3]string{
		"other report":      {ref[:len(ref)-1] + "f", exp, sig},
		"later expiry":      {ref, exp + "0", sig},
		"changed signature": {ref, exp, strings.Repeat("a", len(sig))},
		"not hex":           {ref, exp, "zz"},
		"no signature":      {ref, exp, ""},
	} {
		if _, err := l.verify(c[0], c[1], c[2]); !errors.Is(err, errBadReviewLink) {
			t.Errorf("%s: %v, want bad_review_link", name, err)
		}
	}
	other := newReviewLinks(ReviewOptions{PublicURL: "https://api.example.kz", Key: []byte("another key of 32 bytes, exactly")}, clock)
	if _, err := other.verify(ref, exp, sig); !errors.Is(err, errBadReviewLink) {
		t.Errorf("another key accepted the link: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := l.verify(ref, exp, sig); !errors.Is(err, errReviewLinkExpired) {
		t.Errorf("after an hour: %v, want review_link_expired", err)
	}
}

func TestParseRange(t *testing.T) {
	const size = 1000
	for _, c := range []struct {
		in            string
		off, n        int64
		partial, fail bool
	}{
		{"", 0, size, false, false},
		{"bytes=0-99", 0, 100, true, false},
		{"bytes=900-", 900, 100, true, false},
		{"bytes=900-5000", 900, 100, true, false},
		{"bytes=-10", 990, 10, true, false},
		{"bytes=-5000", 0, size, true, false},
		{"bytes=0-0", 0, 1, true, false},
		{"bytes=0-1,5-9", 0, size, false, false},
		{"items=0-9", 0, size, false, false},
		{"bytes=1000-", 0, 0, false, true},
		{"bytes=50-10", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=x-", 0, 0, false, true},
	} {
		off, n, partial, err := ParseRange(c.in, size)
		if c.fail != errors.Is(err, ErrRangeNotSatisfiable) || (!c.fail && (off != c.off || n != c.n || partial != c.partial)) {
			t.Errorf("%q: %d+%d partial=%v err=%v", c.in, off, n, partial, err)
		}
	}
}

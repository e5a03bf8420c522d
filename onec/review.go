package onec

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/authenticity"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/reports"
)

// ReviewOptions configure the signed review page links of the feed (review_url).
type ReviewOptions struct {
	PublicURL string        // absolute base of the links (FL_PUBLIC_URL)
	Key       []byte        // HMAC key of the links
	TTL       time.Duration // default 1 hour
	// Rules name the thresholds on the page; zero: authenticity's defaults.
	Rules authenticity.Config
}

// VideoRanges plays stored videos in parts (media.Store does).
type VideoRanges interface {
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// reviewLinks signs and checks /review/{ref_key}?expires=&signature= links. The signature covers the
// path's ref_key and the expiry, so any change to either is refused.
type reviewLinks struct {
	base string
	key  []byte
	ttl  time.Duration
	now  func() time.Time
}

func newReviewLinks(o ReviewOptions, now func() time.Time) *reviewLinks {
	ttl := o.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	return &reviewLinks{base: strings.TrimRight(o.PublicURL, "/"), key: bytes.Clone(o.Key), ttl: ttl, now: now}
}

func (l *reviewLinks) query(refKey string, expires int64) string {
	exp := strconv.FormatInt(expires, 10)
	return "expires=" + exp + "&signature=" + hex.EncodeToString(l.sign(refKey, exp))
}

func (l *reviewLinks) url(refKey string) string {
	return l.base + "/review/" + url.PathEscape(refKey) + "?" + l.query(refKey, l.now().Add(l.ttl).Unix())
}

// sign separates ref_key and expiry with a newline, which neither can contain.
func (l *reviewLinks) sign(refKey, expires string) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("review\n" + refKey + "\n" + expires))
	return m.Sum(nil)
}

var errBadReviewLink = apperr.New(apperr.Forbidden, "bad_review_link", "this review link is not valid")
var errReviewLinkExpired = apperr.New(apperr.Forbidden, "review_link_expired", "this review link has expired; fetch the feed again for a fresh one")

// verify checks a link in constant time; it returns the expiry.
func (l *reviewLinks) verify(refKey, expires, signature string) (time.Time, error) {
	got, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(got, l.sign(refKey, expires)) {
		return time.Time{}, errBadReviewLink
	}
	unix, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return time.Time{}, errBadReviewLink
	}
	at := time.Unix(unix, 0)
	if !l.now().Before(at) {
		return time.Time{}, errReviewLinkExpired
	}
	return at, nil
}

// ReviewPage is what the review page shows.
type ReviewPage struct {
	Item     FeedItem
	Verdict  string // pass | warn | fail | pending
	VideoURL string // the signed media route; empty without an upload
	Expires  time.Time
	Rules    authenticity.Config
	// Where the file and the app put the vehicle.
	Distance string
	VIN      inspections.VINCheck
}

// Review checks a link and gathers its page.
func (s *Service) Review(ctx context.Context, refKey, expires, signature string) (ReviewPage, error) {
	if s.review == nil {
		return ReviewPage{}, errBadReviewLink
	}
	exp, err := s.review.verify(refKey, expires, signature)
	if err != nil {
		return ReviewPage{}, err
	}
	row, err := s.store.reportByRef(ctx, refKey)
	if err != nil {
		return ReviewPage{}, err
	}
	items, err := s.items(ctx, []feedRow{row})
	if err != nil {
		return ReviewPage{}, err
	}
	p := ReviewPage{Item: items[0], Verdict: "pending", Expires: exp, Rules: s.reviewRules()}
	if row.Upload != nil {
		p.VideoURL = "/review/" + url.PathEscape(refKey) + "/video?" + s.review.query(refKey, exp.Unix())
	}
	if a := p.Item.Authenticity; a != nil {
		p.Verdict = string(a.Verdict)
		if a.Video != nil && a.Video.Location != nil && p.Item.Upload != nil {
			p.Distance = distanceText(authenticity.Distance(a.Video.Location.Lat, a.Video.Location.Long, p.Item.Upload.Lat, p.Item.Upload.Long))
		}
	}
	if p.Item.VINCheck != nil {
		p.VIN = *p.Item.VINCheck
	}
	return p, nil
}

func (s *Service) reviewRules() authenticity.Config {
	return s.reviewCfg
}

// ReviewVideo checks a link and opens the bytes [off, off+n) of the report's newest video; n < 0
// means to the end. It returns the video's size.
func (s *Service) ReviewVideo(ctx context.Context, refKey, expires, signature string, rng func(size int64) (off, n int64, err error)) (io.ReadCloser, int64, int64, int64, error) {
	if s.review == nil || s.media == nil {
		return nil, 0, 0, 0, errBadReviewLink
	}
	if _, err := s.review.verify(refKey, expires, signature); err != nil {
		return nil, 0, 0, 0, err
	}
	row, err := s.store.reportByRef(ctx, refKey)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	u := row.Upload
	if u == nil {
		return nil, 0, 0, 0, apperr.New(apperr.NotFound, "no_video", "this report has no video yet")
	}
	off, n, err := rng(u.Size)
	if err != nil {
		return nil, u.Size, 0, 0, err
	}
	// The body is streamed after the handler returns, when the request's context is done: the read
	// lives on without its cancellation, bounded by the store's idle deadline and closed with the answer.
	rc, err := s.media.OpenRange(context.WithoutCancel(ctx), u.ObjectKey, off, n)
	if err != nil {
		return nil, u.Size, 0, 0, apperr.Wrap(apperr.Unavailable, err, "the video store is unavailable; try again later")
	}
	return rc, u.Size, off, n, nil
}

// ErrRangeNotSatisfiable is a Range header that asks for nothing inside the video.
var ErrRangeNotSatisfiable = errors.New("onec: range not satisfiable")

// ParseRange reads a single "bytes=a-b", "bytes=a-" or "bytes=-n" range of a size-byte body. An
// empty header is the whole body; several ranges are answered with the whole body too, which HTTP allows.
func ParseRange(header string, size int64) (off, n int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if header == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	switch {
	case first == "": // the last n bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k <= 0 {
			return 0, 0, false, ErrRangeNotSatisfiable
		}
		k = min(k, size)
		return size - k, k, true, nil
	default:
		a, err := strconv.ParseInt(first, 10, 64)
		if err != nil || a < 0 || a >= size {
			return 0, 0, false, ErrRangeNotSatisfiable
		}
		b := size - 1
		if last != "" {
			if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
				return 0, 0, false, ErrRangeNotSatisfiable
			}
			b = min(b, size-1)
		}
		return a, b - a + 1, true, nil
	}
}

func distanceText(m float64) string {
	if m >= 1000 {
		return strings.ReplaceAll(strconv.FormatFloat(math.Round(m/100)/10, 'f', -1, 64), ".", ",") + " км"
	}
	return strconv.Itoa(int(math.Round(m))) + " м"
}

//go:embed review.html
var reviewHTML string

var reviewTemplate = template.Must(template.New("review").Funcs(template.FuncMap{
	"verdictTitle": func(v string) string {
		return map[string]string{"pass": "Проверка пройдена", "warn": "Требует внимания", "fail": "Проверка не пройдена",
			"pending": "Проверка выполняется"}[v]
	},
	"verdictHint": func(v string) string {
		return map[string]string{
			"pass":    "Замечаний нет: отчёт можно принимать после просмотра видео.",
			"warn":    "Есть замечания: просмотрите видео и причины ниже, прежде чем принять отчёт.",
			"fail":    "Серьёзные расхождения: отчёт следует отклонить или запросить новое видео.",
			"pending": "Анализ видео ещё не завершён; обновите страницу через минуту.",
		}[v]
	},
	"levelTitle": func(l inspections.Level) string {
		if l == inspections.LevelFail {
			return "Отказ"
		}
		return "Внимание"
	},
	"vinTitle": func(s string) string {
		return map[string]string{"match": "VIN совпадает", "mismatch": "VIN не совпадает", "not_found": "Автомобиль не найден в реестрах",
			"unavailable": "Реестры недоступны", "not_configured": "Проверка не настроена", "pending": "Проверка выполняется"}[s]
	},
	"statusTitle": reports.StatusTitle,
	"coords":      func(lat, long float64) string { return fmt.Sprintf("%.6f, %.6f", lat, long) },
	"mapURL": func(lat, long float64) string {
		return fmt.Sprintf("https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f#map=17/%.6f/%.6f", lat, long, lat, long)
	},
	"routeURL": func(lat1, long1, lat2, long2 float64) string {
		return fmt.Sprintf("https://www.openstreetmap.org/directions?route=%.6f%%2C%.6f%%3B%.6f%%2C%.6f", lat1, long1, lat2, long2)
	},
	"local": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return reports.FormatDateTime(t)
		case *time.Time:
			if t != nil {
				return reports.FormatDateTime(*t)
			}
		}
		return ""
	},
	"deref": func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	},
	"sorted": func(m map[string]any) [][2]string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][2]string, 0, len(keys))
		for _, k := range keys {
			out = append(out, [2]string{k, factText(m[k])})
		}
		return out
	},
	"fact":    factText,
	"seconds": func(f float64) string { return strings.ReplaceAll(strconv.FormatFloat(f, 'f', 1, 64), ".", ",") },
	"mib": func(n int64) string {
		return strings.ReplaceAll(strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64), ".", ",")
	},
	"km":      func(n int64) string { return strconv.FormatInt(n, 10) },
	"hours":   func(d time.Duration) string { return strconv.FormatFloat(d.Hours(), 'f', -1, 64) },
	"minutes": func(d time.Duration) string { return strconv.FormatFloat(d.Minutes(), 'f', -1, 64) },
	"actor": func(a string) string {
		switch {
		case a == "1c":
			return "1С"
		case strings.HasPrefix(a, "user:"):
			return "приложение (пользователь " + strings.TrimPrefix(a, "user:") + ")"
		}
		return a
	},
}).Parse(reviewHTML))

func factText(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		return x
	case bool:
		if x {
			return "да"
		}
		return "нет"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// RenderReview writes the page.
func RenderReview(w io.Writer, p ReviewPage) error { return reviewTemplate.Execute(w, p) }

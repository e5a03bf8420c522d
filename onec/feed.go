package onec

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/reports"
)

// Feed paging limits.
const (
	DefaultFeedLimit = 100
	MaxFeedLimit     = 1000
	videoURLTTL      = time.Hour
)

// VideoURLs signs download links for stored videos (media.Store does).
type VideoURLs interface {
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// FeedItem is one report of GET /1c/reports.
type FeedItem struct {
	RefKey         string `json:"ref_key"`
	ReportNumber   string `json:"report_number"`
	ContractNumber string `json:"contract_number"`
	BIIN           string `json:"biin"`
	VehicleGUID    string `json:"vehicle_guid"`
	VINCode        string `json:"vin_code"`
	PlateNumber    string `json:"plate_number"`
	// ContractDateEnd is "" when 1C sent none or its empty date.
	ContractDateEnd string                `json:"contract_date_end"`
	DateStart       string                `json:"date_start"`
	DateFinish      string                `json:"date_finish"`
	StatusCode      int                   `json:"status_code"`
	StatusTitle     string                `json:"status_title"`
	RejectReason    string                `json:"reject_reason"`
	ChangedAt       string                `json:"changed_at"`
	Upload          *FeedUpload           `json:"upload"`
	VINCheck        *inspections.VINCheck `json:"vin_check"`
	// Authenticity is the analysis of the newest upload (CONTRACT §10); null without an upload.
	Authenticity *inspections.Authenticity `json:"authenticity"`
	// ReviewURL is a signed link to the review page; empty when no signing key is configured.
	ReviewURL string         `json:"review_url"`
	History   []HistoryEntry `json:"history"`
}

type FeedUpload struct {
	VideoURL   string   `json:"video_url"`
	Size       int64    `json:"size"`
	SHA256     string   `json:"sha256"`
	Lat        float64  `json:"lat"`
	Long       float64  `json:"long"`
	TimeSent   string   `json:"time_sent"`
	Odometer   *int64   `json:"odometer"`
	UploadedAt string   `json:"uploaded_at"`
	Uploader   Uploader `json:"uploader"`
}

type Uploader struct {
	UserID    int64  `json:"user_id"`
	FirstName string `json:"first_name"`
	Mobile    string `json:"mobile"`
}

type HistoryEntry struct {
	StatusCode   int    `json:"status_code"`
	RejectReason string `json:"reject_reason"`
	Actor        string `json:"actor"`
	At           string `json:"at"`
}

// FeedPage is the answer of GET /1c/reports. NextCursor is empty when this page reached the end;
// Cursor is always where to continue polling from later.
type FeedPage struct {
	Reports    []FeedItem `json:"reports"`
	NextCursor string     `json:"next_cursor"`
	Cursor     string     `json:"cursor"`
}

// FeedQuery is what 1C asks for.
type FeedQuery struct {
	Status int
	After  int64
	Limit  int
}

// ParseFeedQuery validates ?status=&after=&limit=.
func ParseFeedQuery(status, after, limit string) (FeedQuery, error) {
	q := FeedQuery{Limit: DefaultFeedLimit}
	var fields apperr.FieldList
	if status != "" {
		n, err := strconv.Atoi(status)
		if err != nil || reports.StatusTitle(n) == "" {
			fields.Add("status", "must be 1, 2, 3 or 4")
		}
		q.Status = n
	}
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			fields.Add("after", "must be a cursor returned by this feed")
		}
		q.After = n
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxFeedLimit {
			fields.Add("limit", "must be between 1 and %d", MaxFeedLimit)
		}
		q.Limit = n
	}
	return q, fields.Err(apperr.Invalid, "bad feed parameters")
}

// Feed returns the reports changed after the cursor, oldest change first.
func (s *Service) Feed(ctx context.Context, q FeedQuery) (FeedPage, error) {
	rows, err := s.store.feed(ctx, q)
	if err != nil {
		return FeedPage{}, err
	}
	items, err := s.items(ctx, rows)
	if err != nil {
		return FeedPage{}, err
	}
	page := FeedPage{Reports: items, Cursor: strconv.FormatInt(q.After, 10)}
	if len(rows) > 0 {
		page.Cursor = strconv.FormatInt(rows[len(rows)-1].ChangeSeq, 10)
	}
	if len(rows) == q.Limit {
		page.NextCursor = page.Cursor
	}
	return page, nil
}

// items makes feed items of the rows the feed's statement read, signing their links.
func (s *Service) items(ctx context.Context, rows []feedRow) ([]FeedItem, error) {
	items := make([]FeedItem, 0, len(rows))
	for _, r := range rows {
		item := FeedItem{
			RefKey: r.RefKey, ReportNumber: r.ReportNumber, ContractNumber: r.ContractNumber, BIIN: r.BIIN,
			VehicleGUID: r.VehicleGUID, VINCode: r.VINCode, PlateNumber: r.PlateNumber, ContractDateEnd: contractEnd(r.ContractEnd),
			DateStart: reports.FormatDateTime(r.DateStart), DateFinish: reports.FormatDateTime(r.DateFinish),
			StatusCode: r.StatusCode, StatusTitle: reports.StatusTitle(r.StatusCode), RejectReason: r.RejectReason,
			ChangedAt: reports.FormatDateTime(r.UpdatedAt), History: make([]HistoryEntry, 0, len(r.History)),
		}
		if r.Check != nil && s.checks != nil {
			c := s.checks.FromStored(*r.Check)
			item.VINCheck = &c
		}
		if u := r.Upload; u != nil {
			url, err := s.videos.URL(ctx, u.ObjectKey, videoURLTTL)
			if err != nil {
				return nil, apperr.Wrap(apperr.Unavailable, err, "the video store is unavailable; try again later")
			}
			item.Upload = &FeedUpload{VideoURL: url, Size: u.Size, SHA256: u.SHA256, Lat: u.Lat, Long: u.Lng,
				TimeSent: reports.FormatDateTime(u.TimeSent), Odometer: u.Odometer, UploadedAt: reports.FormatDateTime(u.CreatedAt),
				Uploader: Uploader{UserID: u.UploaderID, FirstName: u.FirstName, Mobile: u.Mobile}}
			if s.authenticity != nil {
				a := s.authenticity.FromStored(r.Analysis)
				item.Authenticity = &a
			}
		}
		if s.review != nil {
			item.ReviewURL = s.review.url(r.RefKey)
		}
		for _, h := range r.History {
			item.History = append(item.History, HistoryEntry{StatusCode: h.StatusCode, RejectReason: h.RejectReason,
				Actor: h.Actor, At: reports.FormatDateTime(h.CreatedAt)})
		}
		items = append(items, item)
	}
	return items, nil
}

func contractEnd(t *time.Time) string {
	if t == nil || reports.IsNoDate(*t) {
		return ""
	}
	return reports.FormatDateTime(*t)
}

// Decision is 1C's verdict on a submitted report.
type Decision struct {
	RefKey       string
	StatusCode   int
	RejectReason string
}

// Decided is a committed decision, with whom to tell.
type Decided struct {
	Decision
	CompanyID    int64
	ReportNumber string
	UploaderID   int64
}

// ParseDecision validates the decision body.
func ParseDecision(refKey string, status int, reason string) (Decision, error) {
	d := Decision{RefKey: refKey, StatusCode: status, RejectReason: strings.TrimSpace(reason)}
	var fields apperr.FieldList
	switch {
	case status != reports.StatusApproved && status != reports.StatusRejected:
		fields.Add("status_code", "must be 3 (approve) or 4 (reject)")
	case status == reports.StatusRejected && d.RejectReason == "":
		fields.Add("reject_reason", "is required when rejecting")
	case len(d.RejectReason) > maxReason:
		fields.Add("reject_reason", "must be at most %d characters", maxReason)
	}
	if status == reports.StatusApproved {
		d.RejectReason = ""
	}
	return d, fields.Err(apperr.Invalid, "bad decision")
}

// Decide records 1C's decision on a report in status 2 and tells the app.
func (s *Service) Decide(ctx context.Context, d Decision) (Decided, error) {
	return s.store.decide(ctx, d, s.now(), func(tx *sql.Tx, res Decided) error {
		if s.notify == nil {
			return nil
		}
		return s.notify.Decided(ctx, tx, res)
	})
}

// Notifier queues the app users' notifications of a change inside the change's transaction (the
// notify feature provides it); an error rolls the change back.
type Notifier interface {
	NewTasks(ctx context.Context, tx *sql.Tx, tasks []NewTask) error
	Decided(ctx context.Context, tx *sql.Tx, d Decided) error
}

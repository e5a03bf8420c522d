package reports

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/media"
)

// videoPrefix is where uploaded videos live in the object store.
const videoPrefix = "videos/"

// Uploads stores inspection videos: the object first, then one transaction that records it and moves
// the report to status 2; the object is removed again whenever that transaction does not happen.
type Uploads struct {
	store    *Store
	media    media.Store
	maxBytes int64
	now      func() time.Time
	log      *slog.Logger
	hooks    []inspections.UploadHook
	bytes    prometheus.Counter
}

func NewUploads(store *Store, m media.Store, maxBytes int64, now func() time.Time, log *slog.Logger) *Uploads {
	if now == nil {
		now = time.Now
	}
	return &Uploads{store: store, media: m, maxBytes: maxBytes, now: now, log: log}
}

// Hook adds work that commits with every upload (the VIN check's job, the authenticity analysis's):
// see inspections.UploadHook. Call it while wiring, before serving.
func (u *Uploads) Hook(h ...inspections.UploadHook) { u.hooks = append(u.hooks, h...) }

// CountBytes adds the size of every committed upload to c.
func (u *Uploads) CountBytes(c prometheus.Counter) { u.bytes = c }

// MaxBytes is the largest video accepted.
func (u *Uploads) MaxBytes() int64 { return u.maxBytes }

// UploadMeta are the form fields of POST /reports/upload.
type UploadMeta struct {
	RefKey   string
	TimeSent time.Time
	Lat, Lng float64
	Odometer *int64
	// StartedAt is when the server began to receive the upload (the request's start, the tus
	// creation); zero: when it is recorded. clock_skew compares time_sent with it.
	StartedAt time.Time
}

// ParseMeta validates the form fields, naming every bad one.
func ParseMeta(v map[string]string) (UploadMeta, error) {
	var m UploadMeta
	var fields apperr.FieldList
	m.RefKey = inspections.CanonicalKey(v["ref_key"])
	if m.RefKey == "" || len(m.RefKey) > 64 {
		fields.Add("ref_key", "is required, at most 64 characters")
	}
	if s := strings.TrimSpace(v["time_sent"]); s == "" {
		fields.Add("time_sent", "is required")
	} else if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, kz); err != nil {
		fields.Add("time_sent", "must be yyyy-mm-dd hh:mm:ss")
	} else {
		m.TimeSent = t.UTC()
	}
	m.Lat = Coordinate(v, "lat", 90, &fields)
	m.Lng = Coordinate(v, "long", 180, &fields)
	m.Odometer = Odometer(v["odometer"], &fields)
	return m, fields.Err(apperr.Invalid, "some fields are missing or invalid")
}

// ParseDecimal reads a number as phones send it: a decimal point or, from a Russian or Kazakh locale,
// a decimal comma ("43,2389"). Exponents, hex, infinities and NaN are refused.
func ParseDecimal(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case (r == '-' || r == '+') && i == 0, r == '.':
		default:
			return 0, fmt.Errorf("not a decimal number: %q", s)
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("not a decimal number: %q", s)
	}
	return strconv.ParseFloat(s, 64)
}

// Coordinate reads the required field name (lat or long) of an upload's metadata, a decimal within
// ±limit, recording a field error otherwise. The plain upload form and tus metadata share it.
func Coordinate(v map[string]string, name string, limit float64, fields *apperr.FieldList) float64 {
	s := strings.TrimSpace(v[name])
	if s == "" {
		fields.Add(name, "is required")
		return 0
	}
	f, err := ParseDecimal(s)
	if err != nil || math.IsNaN(f) || f < -limit || f > limit {
		fields.Add(name, "must be a number from %g to %g (a decimal point or comma)", -limit, limit)
	}
	return f
}

// Odometer reads the optional odometer field (km): a decimal, rounded to whole kilometres; nil when absent.
func Odometer(s string, fields *apperr.FieldList) *int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	f, err := ParseDecimal(s)
	if err != nil || f < 0 || f > 10_000_000 {
		fields.Add("odometer", "must be a number of kilometres from 0 to 10000000 (a decimal point or comma)")
		return nil
	}
	n := int64(math.Round(f))
	return &n
}

// ValidIdempotencyKey bounds what a client may send as Idempotency-Key.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// AlreadyStored reports whether this user already completed an upload with key.
func (u *Uploads) AlreadyStored(ctx context.Context, p auth.Principal, key string) (bool, error) {
	return u.store.uploadByKey(ctx, p.UserID, key)
}

// CheckTarget refuses early — before any video byte is stored — a report that is not the company's or
// does not wait for a video.
func (u *Uploads) CheckTarget(ctx context.Context, p auth.Principal, refKey string) error {
	refKey = strings.TrimSpace(refKey)
	t, err := u.store.uploadTarget(ctx, p.CompanyID, refKey)
	if err != nil {
		return err
	}
	if t.StatusCode != StatusToSubmit && t.StatusCode != StatusRejected {
		return errNotUploadable
	}
	return nil
}

// Stored is a video in the object store that no report refers to yet.
type Stored struct {
	Key    string
	Size   int64
	SHA256 string
	// Discard removes the video when it will not be committed; nil deletes Key from the media store.
	// A resumable upload sets it to terminate the whole upload.
	Discard func(ctx context.Context) error
}

var (
	errTooLarge = errors.New("reports: video larger than the limit")
	errNotMP4   = apperr.New(apperr.UnsupportedMedia, "not_mp4", "the file is not an MP4 video (no ftyp box at its start)")
	errPhoto    = apperr.New(apperr.UnsupportedMedia, "not_a_video", "the file is a still image (HEIF/AVIF), not a video")
	errEmpty    = apperr.New(apperr.Invalid, "empty_file", "the file is empty")
)

// VideoHeadSize is how many leading bytes CheckVideoHead needs.
const VideoHeadSize = 12

// CheckVideoHead is the one signature check of both upload endpoints: an ISO-BMFF file whose first
// box is "ftyp" with a plausible size, and whose major brand is not a still-image one (a HEIC/AVIF
// photo is ISO-BMFF too).
func CheckVideoHead(head []byte) error {
	if len(head) < VideoHeadSize || string(head[4:8]) != "ftyp" {
		return errNotMP4
	}
	size := uint32(head[0])<<24 | uint32(head[1])<<16 | uint32(head[2])<<8 | uint32(head[3])
	if size < 8 || size > 4096 {
		return errNotMP4
	}
	switch string(head[8:12]) {
	case "heic", "heix", "mif1", "msf1", "avif":
		return errPhoto
	}
	return nil
}

// TooLarge is the answer to a video over the limit, on both endpoints.
func (u *Uploads) TooLarge() error {
	return apperr.New(apperr.TooLarge, "file_too_large", "the video is larger than %d MiB", u.maxBytes>>20)
}

// Receive streams r into the object store, checking the MP4 signature, the size limit (as bytes
// arrive) and computing SHA-256 on the way. Nothing is left in the store when it fails.
func (u *Uploads) Receive(ctx context.Context, p auth.Principal, r io.Reader) (Stored, error) {
	head := make([]byte, VideoHeadSize)
	n, err := io.ReadFull(r, head)
	switch {
	case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return Stored{}, errEmpty
	case err != nil && err != io.ErrUnexpectedEOF:
		return Stored{}, apperr.Wrap(apperr.Invalid, err, "the upload was interrupted")
	}
	if err := CheckVideoHead(head[:n]); err != nil {
		return Stored{}, err
	}
	key := fmt.Sprintf("%s%d/%s.mp4", videoPrefix, p.CompanyID, randomID())
	hash := sha256.New()
	counted := &limitedReader{r: io.MultiReader(bytes.NewReader(head[:n]), r), max: u.maxBytes}
	obj, err := u.media.Put(ctx, key, io.TeeReader(counted, hash), -1, "video/mp4")
	if err != nil {
		if media.IsUnavailable(err) {
			// A failed PUT stored nothing; a store that is hanging must not hold the answer for the
			// delete as well (the sweeper removes anything left).
			go u.discard(Stored{Key: key})
		} else {
			u.discard(Stored{Key: key})
		}
		switch {
		case errors.Is(err, errTooLarge):
			return Stored{}, u.TooLarge()
		case media.IsUnavailable(err):
			return Stored{}, apperr.Wrap(apperr.Unavailable, err, "the video store is unavailable; the report is unchanged, try again later")
		case counted.readErr != nil:
			return Stored{}, apperr.Wrap(apperr.Invalid, err, "the upload was interrupted")
		default:
			return Stored{}, fmt.Errorf("reports: store video: %w", err)
		}
	}
	return Stored{Key: key, Size: obj.Size, SHA256: hex.EncodeToString(hash.Sum(nil))}, nil
}

// Commit records a stored video against its report — status 2, the upload row, the history event, then
// the upload hooks (the VIN check's job), all in one transaction — or discards the video again. Both endpoints finish here. A retry that finds
// its own earlier commit (same Idempotency-Key, or the same object) succeeds without storing twice.
func (u *Uploads) Commit(ctx context.Context, p auth.Principal, m UploadMeta, s Stored, idempotencyKey string) error {
	row := uploadRow{
		CompanyID: p.CompanyID, UploaderID: p.UserID, ObjectKey: s.Key, Size: s.Size, SHA256: s.SHA256,
		ContentType: "video/mp4", Lat: m.Lat, Lng: m.Lng, TimeSent: m.TimeSent, Odometer: m.Odometer,
		CreatedAt: u.now().UTC(),
	}
	if !m.StartedAt.IsZero() {
		started := m.StartedAt.UTC()
		row.StartedAt = &started
	}
	if idempotencyKey != "" {
		row.IdempotencyKey = &idempotencyKey
	}
	err := u.store.commitUpload(ctx, m.RefKey, row, func(tx *sqlx.Tx, up inspections.Upload) error {
		for _, h := range u.hooks {
			if err := h.UploadCommitting(ctx, tx.Tx, up); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		if u.bytes != nil {
			u.bytes.Add(float64(s.Size))
		}
		return nil
	}
	if database.OutcomeUnknown(err) {
		// The connection went away during the transaction, perhaps after COMMIT reached the server: the
		// upload may be recorded. Keep the video; the sweeper removes it if no row refers to it.
		u.log.Warn("upload commit outcome unknown; the video is kept for the sweeper to judge", "key", s.Key, "err", err)
		return apperr.Wrap(apperr.Unavailable, err, "the database went away while recording the upload; retry with the same Idempotency-Key")
	}
	if database.IsUniqueViolation(err) || errors.Is(err, errNotUploadable) {
		// A concurrent retry with the same key (or this very upload, retried) committed first: the same
		// outcome for the client.
		if recorded, ferr := u.store.committedAs(ctx, p.UserID, idempotencyKey, s.Key); ferr == nil && recorded != "" {
			if recorded != s.Key {
				u.discard(s)
			}
			return nil
		}
	}
	u.discard(s)
	switch {
	case errors.Is(err, errNotUploadable):
		if _, terr := u.store.uploadTarget(ctx, p.CompanyID, m.RefKey); errors.Is(terr, errReportNotFound) {
			return errReportNotFound
		}
		return err
	default:
		return apperr.Wrap(apperr.Unavailable, err, "the upload could not be recorded; the report is unchanged, try again later")
	}
}

// Discard removes a stored video that will not be committed.
func (u *Uploads) Discard(s Stored) { u.discard(s) }

func (u *Uploads) discard(s Stored) {
	// Detached from the request: a client that hung up must not leave the object behind.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if s.Discard != nil {
		err = s.Discard(ctx)
	} else {
		err = u.media.Delete(ctx, s.Key)
	}
	if err != nil {
		u.log.Warn("could not remove an uncommitted video; the sweeper will", "key", s.Key, "err", err)
	}
}

// SweepOrphans deletes videos older than minAge that no upload row refers to: they are what a crash
// between storing and committing leaves behind.
func (u *Uploads) SweepOrphans(ctx context.Context, minAge time.Duration) (int, error) {
	cutoff := u.now().Add(-minAge)
	removed := 0
	err := u.media.List(ctx, videoPrefix, func(o media.Object) error {
		if o.ModTime.After(cutoff) {
			return nil
		}
		recorded, err := u.store.recordedObject(ctx, o.Key)
		if err != nil || recorded {
			return err
		}
		if err := u.media.Delete(ctx, o.Key); err != nil {
			return err
		}
		removed++
		return nil
	})
	return removed, err
}

// limitedReader fails with errTooLarge as soon as more than max bytes have passed.
type limitedReader struct {
	r       io.Reader
	max, n  int64
	readErr error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, errTooLarge
	}
	if err != nil && err != io.EOF {
		l.readErr = err
	}
	return n, err
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

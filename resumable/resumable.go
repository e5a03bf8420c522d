// Package resumable serves resumable video uploads (tus 1.0, CONTRACT §9) at /reports/uploads on
// tusd's handler, with the upload state in the database and the bytes in the media store; a finished
// upload commits through the same reports.Uploads.Commit as POST /reports/upload.
package resumable

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/limits"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/reports"
)

// TTL is how long an unfinished upload lives after its last PATCH.
const TTL = 24 * time.Hour

// Service is the tus endpoint and what it needs: the rows, the backend, the lock and the commit.
type Service struct {
	rows    *Store
	data    *dataStore
	locker  *Locker
	uploads *reports.Uploads
	tus     *handler.UnroutedHandler
	now     func() time.Time
	log     *slog.Logger
	slots   *limits.Slots
}

// Options configures New.
type Options struct {
	PublicURL string // Location headers are absolute under it
	Now       func() time.Time
	Logger    *slog.Logger
	// NetworkTimeout closes a PATCH whose client sent nothing for this long (an idle limit, not a total
	// one: a slow link keeps going while bytes arrive). Default 60 s.
	NetworkTimeout time.Duration
	// Slots caps each user's concurrent uploads; the plain endpoint shares it (FL_UPLOAD_CONCURRENCY_PER_USER).
	Slots *limits.Slots
}

// New builds the service on the media store the reports use: its disk directory or its bucket.
func New(ctx context.Context, db *database.DB, uploads *reports.Uploads, store media.Store, o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NetworkTimeout == 0 {
		o.NetworkTimeout = 60 * time.Second
	}
	rows := NewStore(db)
	var b backend
	switch st := store.(type) {
	case *media.Disk:
		d, err := newDiskBackend(st)
		if err != nil {
			return nil, err
		}
		b = d
	case *media.S3:
		client, bucket, err := st.Raw(ctx)
		if err != nil {
			return nil, fmt.Errorf("resumable: %w", err)
		}
		b = newS3Backend(client, bucket, rows)
	default:
		return nil, fmt.Errorf("resumable: no resumable backend for media store %T", store)
	}
	s := &Service{rows: rows, uploads: uploads, now: o.Now, log: o.Logger, slots: o.Slots}
	s.data = &dataStore{rows: rows, backend: b, now: o.Now, ttl: TTL}
	s.locker = newLocker(rows, time.Now, o.Logger) // leases are liveness, on the real clock

	composer := handler.NewStoreComposer()
	composer.UseCore(s.data)
	composer.UseTerminater(s.data)
	composer.UseLocker(s.locker)
	tus, err := handler.NewUnroutedHandler(handler.Config{
		StoreComposer:              composer,
		MaxSize:                    uploads.MaxBytes(),
		BasePath:                   strings.TrimRight(o.PublicURL, "/") + Path + "/",
		DisableDownload:            true,
		DisableConcatenation:       true,
		Cors:                       &handler.CorsConfig{Disable: true},
		PreUploadCreateCallback:    s.preCreate,
		PreFinishResponseCallback:  s.preFinish,
		PreUploadTerminateCallback: s.preTerminate,
		NetworkTimeout:             o.NetworkTimeout,
		// tusd logs every request, and an interrupted PATCH as an error; its real failures reach the
		// service's log through the bridge (a 500 carries tusd's message), with the request id.
		Logger: xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	s.tus = tus
	return s, nil
}

// Path is where the endpoint lives.
const Path = "/reports/uploads"

// Extensions are the tus extensions the endpoint speaks; tusd implements all but expiration, which
// the rows and the sweeper do.
const Extensions = "creation,creation-with-upload,termination,expiration"

// state is what one request carries through tusd to the callbacks: who asks, and the error (with
// the service's own code) that decides the answer when a callback refuses.
type state struct {
	principal auth.Principal
	err       error
}

type stateKey struct{}

func withState(ctx context.Context, st *state) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func stateOf(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// refuse records err as the answer to the request and gives tusd an error of its own type to stop on.
func refuse(ctx context.Context, err error) error {
	if st := stateOf(ctx); st != nil && st.err == nil {
		st.err = err
	}
	return handler.NewError("ERR_REFUSED", err.Error(), http.StatusBadRequest)
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// metadataKeys are the Upload-Metadata keys the upload keeps.
var metadataKeys = []string{"ref_key", "time_sent", "lat", "long", "odometer", "filename", "sha256"}

// preCreate validates a new upload before any video byte, with POST /reports/upload's rules.
func (s *Service) preCreate(hook handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	ctx, st := hook.Context, stateOf(hook.Context)
	if st == nil {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, errors.New("resumable: request without state")
	}
	in := hook.Upload.MetaData
	m, err := reports.ParseMeta(in)
	var fields apperr.FieldList
	var ae *apperr.Error
	if errors.As(err, &ae) {
		fields = append(fields, ae.Fields...)
	} else if err != nil {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, refuse(ctx, err)
	}
	if v := in["sha256"]; v != "" && !hexSHA256.MatchString(v) {
		fields.Add("sha256", "must be 64 hexadecimal digits")
	}
	if len(in["filename"]) > 255 {
		fields.Add("filename", "at most 255 bytes")
	}
	if err := fields.Err(apperr.Invalid, "some fields are missing or invalid"); err != nil {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, refuse(ctx, err)
	}
	if hook.Upload.Size == 0 {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, refuse(ctx, apperr.New(apperr.Invalid, "empty_file", "the file is empty"))
	}
	if err := s.uploads.CheckTarget(ctx, st.principal, m.RefKey); err != nil {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, refuse(ctx, err)
	}
	kept := handler.MetaData{}
	for _, k := range metadataKeys {
		if v, ok := in[k]; ok {
			kept[k] = v
		}
	}
	resp := handler.HTTPResponse{Header: handler.HTTPHeader{"Upload-Expires": s.now().Add(TTL).UTC().Format(http.TimeFormat)}}
	return resp, handler.FileInfoChanges{ID: randomID(), MetaData: kept}, nil
}

// preFinish commits a complete upload before tusd answers the last PATCH.
func (s *Service) preFinish(hook handler.HookEvent) (handler.HTTPResponse, error) {
	if err := s.commit(hook.Context, hook.Upload.ID); err != nil {
		return handler.HTTPResponse{}, refuse(hook.Context, err)
	}
	return handler.HTTPResponse{}, nil
}

// preTerminate keeps a committed video: DELETE only removes uploads still in progress.
func (s *Service) preTerminate(hook handler.HookEvent) (handler.HTTPResponse, error) {
	r, err := s.rows.get(hook.Context, hook.Upload.ID)
	if err == nil && r.UploadID != nil {
		err = apperr.New(apperr.Conflict, "upload_committed", "this upload is complete and saved in its report; it cannot be deleted")
	}
	if err != nil {
		return handler.HTTPResponse{}, refuse(hook.Context, err)
	}
	return handler.HTTPResponse{}, nil
}

var errChecksum = apperr.New(apperr.ChecksumMismatch, "checksum_mismatch", "the video's SHA-256 differs from the sha256 in Upload-Metadata; the upload is discarded")

// commit records a complete upload against its report, exactly like POST /reports/upload. The caller
// holds the upload's lock. A failure the client cannot fix by retrying discards the upload.
func (s *Service) commit(ctx context.Context, id string) error {
	up, err := s.data.GetUpload(ctx, id)
	if err != nil {
		return err
	}
	u := up.(*upload)
	if u.r.UploadID != nil {
		return nil
	}
	discard := func(ctx context.Context) error { return u.Terminate(ctx) }
	sum := u.sum()
	if sum == "" {
		if sum, err = s.rehash(ctx, u); err != nil {
			if apperr.Is(err, apperr.UnsupportedMedia) {
				_ = discard(context.WithoutCancel(ctx))
			}
			return err
		}
	}
	meta, err := u.r.metadata()
	if err != nil {
		return err
	}
	if want := meta["sha256"]; want != "" && !strings.EqualFold(want, sum) {
		if err := discard(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("resumable: discard after checksum mismatch", "upload", id, "err", err)
		}
		return errChecksum
	}
	m, err := reports.ParseMeta(meta)
	if err != nil {
		return err
	}
	m.StartedAt = u.r.CreatedAt // a resumable upload is received from its creation on, perhaps for hours
	p := auth.Principal{UserID: u.r.UploaderID, CompanyID: u.r.CompanyID}
	stored := reports.Stored{Key: u.r.ObjectKey, Size: u.r.Size, SHA256: sum, Discard: discard}
	if err := s.uploads.Commit(ctx, p, m, stored, "tus:"+id); err != nil {
		return err
	}
	if err := s.rows.setCommitted(context.WithoutCancel(ctx), id, u.r.ObjectKey); err != nil {
		s.log.Warn("resumable: mark committed", "upload", id, "err", err)
	}
	return nil
}

// rehash reads a complete upload whose hash state was lost (a PATCH cut while the store was failing),
// checking its signature again on the way.
func (s *Service) rehash(ctx context.Context, u *upload) (string, error) {
	rc, err := u.GetReader(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	head := make([]byte, reports.VideoHeadSize)
	n, _ := io.ReadFull(rc, head)
	if err := reports.CheckVideoHead(head[:n]); err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(head[:n])
	m, err := io.Copy(h, rc)
	if err != nil {
		return "", err
	}
	if int64(n)+m != u.r.Size {
		return "", fmt.Errorf("resumable: upload %s has %d bytes, want %d", u.r.ID, int64(n)+m, u.r.Size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// completeIfDue commits an upload whose bytes are all there but whose commit did not happen (the
// database was down for the last PATCH): tusd would answer a PATCH or HEAD on it without committing.
func (s *Service) completeIfDue(ctx context.Context, r row) error {
	if r.UploadID != nil || r.Received != r.Size {
		return nil
	}
	lock, _ := s.locker.NewLock(r.ID)
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lock.Lock(lctx, nil); err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "the upload is busy; retry shortly")
	}
	defer func() { _ = lock.Unlock() }()
	up, err := s.data.GetUpload(ctx, r.ID)
	if err != nil {
		return err
	}
	u := up.(*upload)
	if u.r.UploadID != nil {
		return nil
	}
	if !u.r.Finished {
		if err := u.FinishUpload(ctx); err != nil {
			return err
		}
	}
	return s.commit(ctx, r.ID)
}

// Sweep removes uploads whose expiry passed: unfinished ones with all their parts (files deleted,
// multipart uploads aborted), and the bookkeeping of committed ones. It returns how many it removed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	removed := 0
	for {
		rows, err := s.rows.expired(ctx, s.now().UTC(), 100)
		if err != nil || len(rows) == 0 {
			return removed, err
		}
		progress := false
		for _, r := range rows {
			ok, err := s.sweepOne(ctx, r)
			if err != nil {
				return removed, err
			}
			if ok {
				removed++
				progress = true
			}
		}
		if !progress {
			return removed, nil
		}
	}
}

func (s *Service) sweepOne(ctx context.Context, r row) (bool, error) {
	now := time.Now()
	holder := randomID()
	ok, err := s.rows.tryLock(ctx, r.ID, holder, now, now.Add(s.locker.lease))
	if err != nil || !ok {
		return false, err // in use right now: the next sweep sees it again
	}
	defer func() { _ = s.rows.unlock(context.WithoutCancel(ctx), r.ID, holder) }()
	recorded := r.UploadID != nil
	if !recorded {
		// A commit whose outcome was unknown may have gone through: never delete a recorded video.
		if recorded, err = s.rows.recorded(ctx, r.ObjectKey); err != nil {
			return false, err
		}
	}
	if recorded {
		if err := s.data.backend.forget(ctx, r); err != nil {
			return false, err
		}
		return true, s.rows.delete(ctx, r.ID)
	}
	up, err := s.data.backend.open(ctx, r)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, handler.ErrNotFound) {
		up, err = nil, nil
	}
	if err != nil {
		return false, err
	}
	if up != nil {
		if err := up.(terminator).terminate(ctx); err != nil {
			return false, err
		}
	}
	return true, s.rows.delete(ctx, r.ID)
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

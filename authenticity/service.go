package authenticity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/jobs"
	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/media/mp4meta"
)

// VINLookup gives the VIN check of a report's newest upload; nil while it is pending or absent.
type VINLookup func(ctx context.Context, reportID int64) (*VINFacts, error)

// Options wire a Service; zero values take the defaults.
type Options struct {
	Config     Config // zero: DefaultConfig
	Logger     *slog.Logger
	Now        func() time.Time
	VIN        VINLookup
	Registerer prometheus.Registerer // the reason and verdict counters; nil: not exported
}

// Service runs analyses and answers them to the 1C feed.
type Service struct {
	store    *Store
	media    media.Store
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	vin      VINLookup
	reasons  *prometheus.CounterVec
	verdicts *prometheus.CounterVec
	queue    *jobs.Queue
}

// NewService registers the analysis's worker on q; q runs it.
func NewService(store *Store, m media.Store, q *jobs.Queue, o Options) *Service {
	s := &Service{store: store, media: m, queue: q, cfg: o.Config, log: o.Logger, now: o.Now, vin: o.VIN}
	if s.cfg.MaxRecordingAge == 0 {
		s.cfg = DefaultConfig()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.reasons = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "forteleasing_authenticity_reasons_total", Help: "Authenticity reasons found in uploads, by reason code (each counted once per upload).",
	}, []string{"code"})
	s.verdicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "forteleasing_authenticity_analyses_total", Help: "Authenticity evaluations stored, by verdict.",
	}, []string{"verdict"})
	for _, c := range Codes {
		s.reasons.WithLabelValues(c)
	}
	for _, v := range []Verdict{VerdictPass, VerdictWarn, VerdictFail} {
		s.verdicts.WithLabelValues(string(v))
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.reasons, s.verdicts)
	}
	jobs.Add(q, &Worker{S: s})
	return s
}

// Config is the rules' configuration in force.
func (s *Service) Config() Config { return s.cfg }

// Args is the River job of one upload's analysis. Trigger tells the first run ("upload") from the
// re-evaluation after the VIN check ("vin_check"); unique by both, each runs once per upload.
type Args struct {
	UploadID int64  `json:"upload_id"`
	Trigger  string `json:"trigger"`
}

const (
	TriggerUpload   = "upload"
	TriggerVINCheck = "vin_check"
)

func (Args) Kind() string { return "authenticity" }

func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// maxAttempts bounds the tries while the object store is down; the last stores what it could learn.
const maxAttempts = 6

// readTimeout bounds one try's reads of the object store.
const readTimeout = 30 * time.Second

// Worker runs analyses for River.
type Worker struct {
	river.WorkerDefaults[Args]
	S *Service
}

func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	complete := func(tx *sql.Tx) error { return jobs.CompleteTx(ctx, tx, job) }
	err := w.S.analyze(ctx, job.Args.UploadID, job.Attempt >= job.MaxAttempts, complete)
	if errors.Is(err, sql.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("upload %d is gone", job.Args.UploadID))
	}
	return err
}

// analyze evaluates one upload and stores the result, with complete (the job's completion) in the
// same transaction: an evaluation is stored, counted and shown to 1C once per job, whatever fails or
// restarts around it. The file is read once: a re-evaluation reuses what the first run read. With
// last set, a store that is still down is recorded instead of retried.
func (s *Service) analyze(ctx context.Context, uploadID int64, last bool, complete func(*sql.Tx) error) error {
	u, err := s.store.upload(ctx, uploadID)
	if err != nil {
		return err
	}
	var file File
	if reuse := u.File != "" && json.Unmarshal([]byte(u.File), &file) == nil && file.Err != errStoreDown; !reuse {
		file, err = s.readFile(ctx, u.ObjectKey, u.Size)
		if err != nil && !last {
			return err
		}
	}
	in := Input{File: file, SHA256: u.SHA256, Lat: u.Lat, Long: u.Lng, TimeSent: u.TimeSent, ReceivedAt: u.receivedAt(),
		DateStart: u.DateStart, Instructions: u.instructionCount()}
	if u.Odometer.Valid {
		km := u.Odometer.Int64
		in.Odometer = &km
	}
	reasons, before, err := s.store.save(ctx, u, file, s.now().UTC(), func() ([]Reason, error) {
		var err error
		if in.Duplicates, err = s.store.duplicates(ctx, u.SHA256, u.ReportID, u.ID); err != nil {
			return nil, err
		}
		if in.PriorOdometer, in.PriorRefKey, err = s.store.priorOdometer(ctx, u.VehicleID, u.ID); err != nil {
			return nil, err
		}
		if s.vin != nil {
			if in.VIN, err = s.vin(ctx, u.ReportID); err != nil {
				return nil, err
			}
		}
		return s.cfg.Evaluate(in), nil
	}, complete)
	if err != nil {
		return err
	}
	for _, r := range reasons {
		if !before[r.Code] {
			s.reasons.WithLabelValues(r.Code).Inc()
		}
	}
	s.verdicts.WithLabelValues(string(VerdictOf(reasons))).Inc()
	return nil
}

const errStoreDown = "the object store was unavailable"

// readFile reads the video's metadata through ranged reads. A file that is missing or not a readable
// MP4 is a finding (File.Err), not an error; a read that failed (the store down or hung, the try
// cancelled by a shutdown) is an error, to retry.
func (s *Service) readFile(ctx context.Context, key string, size int64) (File, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	info, err := mp4meta.Read(media.NewReaderAt(ctx, s.media, key), size, mp4meta.Limits{})
	switch {
	case err == nil:
		return fileOf(info), nil
	case errors.Is(err, media.ErrNotFound):
		return File{Err: "the video is missing from the object store"}, nil
	case mp4meta.ReaderFailed(err):
		return File{Err: errStoreDown}, err
	default:
		return File{Err: err.Error()}, nil
	}
}

func fileOf(info mp4meta.Info) File {
	f := File{Read: true, Duration: info.Duration.Seconds(), Width: info.Width, Height: info.Height,
		Make: info.Make, Model: info.Model, Software: info.Software, Encoders: info.Encoders, Brand: info.Brand}
	if f.Encoders == nil {
		f.Encoders = []string{}
	}
	if t, ok := info.RecordedAt(); ok {
		t = t.UTC()
		f.RecordedAt = &t
	}
	if info.Location != nil {
		f.Location = &Location{Lat: round6(info.Location.Lat), Long: round6(info.Location.Long)}
		f.LocationBy = info.Location.Source
	}
	return f
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// FromStored is what an analysis the 1C feed read with its own statement means
// (inspections.AuthenticityChecks): pending until it is done, then its verdict, reasons and facts.
func (s *Service) FromStored(a inspections.StoredAnalysis) Authenticity {
	row := checkRow{Status: a.Status, File: a.File, Reasons: a.Reasons}
	if a.CheckedAt != nil {
		row.CheckedAt = sql.NullTime{Time: *a.CheckedAt, Valid: true}
	}
	return row.authenticity()
}

func (r checkRow) authenticity() Authenticity {
	a := Authenticity{Verdict: VerdictPending, Reasons: []Reason{}}
	if r.Status != "done" {
		return a
	}
	_ = json.Unmarshal([]byte(r.Reasons), &a.Reasons)
	if a.Reasons == nil {
		a.Reasons = []Reason{}
	}
	a.Verdict = VerdictOf(a.Reasons)
	var f File
	if json.Unmarshal([]byte(r.File), &f) == nil && f.Read {
		a.Video = &VideoFacts{DurationS: round1(f.Duration), Width: f.Width, Height: f.Height, Location: f.Location,
			Make: f.Make, Model: f.Model, Software: f.Software}
		if f.RecordedAt != nil {
			at := local(*f.RecordedAt)
			a.Video.RecordedAt = &at
		}
	}
	if r.CheckedAt.Valid {
		t := r.CheckedAt.Time.UTC()
		a.CheckedAt = &t
	}
	return a
}

// Runs is how many evaluations of an upload are stored.
func (s *Service) Runs(ctx context.Context, uploadID int64) (int, error) {
	return s.store.runs(ctx, uploadID)
}

// UploadCommitting records the pending analysis and queues its job in the upload's own transaction
// (inspections.UploadHook): the upload and its analysis commit together or not at all.
func (s *Service) UploadCommitting(ctx context.Context, tx *sql.Tx, u inspections.Upload) error {
	if err := EnsurePending(ctx, tx, u.ID, s.now().UTC()); err != nil {
		return fmt.Errorf("authenticity: record the analysis: %w", err)
	}
	if _, err := s.queue.InsertTx(ctx, tx, Args{UploadID: u.ID, Trigger: TriggerUpload}, nil); err != nil {
		return fmt.Errorf("authenticity: queue the analysis: %w", err)
	}
	return nil
}

// VINChecked queues the upload's re-evaluation in the transaction that stores its finished VIN check
// (inspections.VINCheckHook): a stored check always has its re-evaluation, and a check rolled back
// has none.
func (s *Service) VINChecked(ctx context.Context, tx *sql.Tx, uploadID int64) error {
	if _, err := s.queue.InsertTx(ctx, tx, Args{UploadID: uploadID, Trigger: TriggerVINCheck}, nil); err != nil {
		return fmt.Errorf("authenticity: queue the re-evaluation: %w", err)
	}
	return nil
}

// VINFactsOf reads what the rules need of a VIN check; nil while it is pending or absent.
func VINFactsOf(c inspections.VINCheck) *VINFacts {
	if c.Status == "" || c.Status == inspections.VINPending {
		return nil
	}
	f := &VINFacts{Status: c.Status, VINExpected: c.VINExpected, VINFound: c.VINFound}
	if b, ok := c.Odometer["is_breaking"].(bool); ok {
		f.IsBreaking = &b
	}
	return f
}

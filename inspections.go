// Package inspections holds what the features of the ForteLeasing inspections backend share: the
// caller, report statuses, the results of the VIN and authenticity checks, and the small interfaces
// one feature needs of another. It imports nothing of this module; every feature may import it.
package inspections

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"
)

// Roles of an app user (CONTRACT §2).
const (
	RoleDirector = 1 // "Директор", the company's admin in the app
	RoleEmployee = 2 // "Сотрудник"
)

// Principal is the authenticated caller of an app endpoint. Every query a feature runs for it is
// scoped by CompanyID in SQL.
type Principal struct {
	UserID     int64
	CompanyID  int64
	BIIN       string
	Role       int
	SessionID  int64
	DeviceUUID string
}

// ListVersions are the versions of a company's report lists (migration 00020): Lists moves with every
// write to its reports, vehicles or their types, Fleet with those to vehicles and types. The access
// check reads them with the company's auth version in its one primary-key read per request and hands
// them to the lists' cache beside the principal, so a cached list costs that one statement (two reads
// were a third of a cached list's CPU). Auth is the company's auth version (migration 00021) + 1,
// which every change to its users moves, so the director's employee list is cached under it. Each is
// at least 1 when read, zero when not.
type ListVersions struct{ Lists, Fleet, Auth int64 }

// IsDirector reports whether the caller is the company's director (the "admin" of the app).
func (p Principal) IsDirector() bool { return p.Role == RoleDirector }

// Report status codes (CONTRACT §3).
const (
	ReportToSubmit = 1 // "Сдать Отчет"
	ReportSent     = 2 // "Отправлено"
	ReportApproved = 3 // "Одобрено"
	ReportRejected = 4 // "Отказано"
)

// Employee is one app user of a company as the director sees it; keys follow the seed.
type Employee struct {
	ID        int64  `json:"id" db:"id"`
	FirstName string `json:"first_name" db:"first_name"`
	Mobile    string `json:"mobile" db:"mobile"`
}

// Employees lists a company's employees (the employees feature provides it), as of at least the
// company's auth version authVersion (ListVersions.Auth; 0: read them whatever the version).
type Employees interface {
	Employees(ctx context.Context, companyID, authVersion int64) ([]Employee, error)
}

// Dashboard holds the blocks of the seed's /auth answer that the reports feature owns, each encoded.
type Dashboard struct {
	Employees []Employee // nil for employees: the key is left out
	Reports   json.RawMessage
	Info      json.RawMessage
	Filter    json.RawMessage
	// Blocks, when not nil, is `,"reports":…,"info":…,"filter":…` of the three above as one fragment,
	// compressed once for every answer that carries it.
	Blocks *Fragment
}

// Fragment is a piece of an answer's JSON with its raw DEFLATE form, which ends on a byte boundary
// without a final block (a sync flush), so that an answer embedding it can be sent gzip-encoded by
// compressing only what surrounds it (httpx.Deflate, httpx.OKSpliced). Never modify it.
type Fragment struct {
	JSON, Deflated []byte
	CRC            uint32 // CRC-32 (IEEE) of JSON, for the gzip trailer of an answer embedding it
}

// Overview fills the login answer's blocks (the reports feature provides it to auth) as of the
// company's versions v, read with the caller's session (a zero v: Overview reads them).
type Overview interface {
	Overview(ctx context.Context, p Principal, v ListVersions) (Dashboard, error)
}

// Statuses of a VIN check (CONTRACT §6).
const (
	VINPending       = "pending"
	VINMatch         = "match"
	VINMismatch      = "mismatch"
	VINNotFound      = "not_found"
	VINUnavailable   = "unavailable"
	VINNotConfigured = "not_configured"
)

// VINCheck is a check as 1C sees it in the feed's vin_check and from POST /1c/vehicles/{guid}/check.
// Facts and Odometer are the registries' own answers, kept as they came.
type VINCheck struct {
	Status      string         `json:"status"`
	Provider    string         `json:"provider"`
	VINExpected string         `json:"vin_expected"`
	VINFound    string         `json:"vin_found"`
	Facts       map[string]any `json:"facts"`
	Odometer    map[string]any `json:"odometer"`
	CheckedAt   *time.Time     `json:"checked_at"`
}

// StoredVINCheck is a vin_checks row as the 1C feed's own statement reads it: the feed folds a page's
// checks into its one statement a page, and the vehicles feature says what a row means (VINChecks).
type StoredVINCheck struct {
	Status, Provider, VINExpected, VINFound string
	Facts, Odometer                         string // JSON text as stored; Odometer is empty without a reading
	CheckedAt                               *time.Time
}

// VINChecks turns a stored check into the one 1C sees in the feed (the vehicles feature provides it).
type VINChecks interface {
	FromStored(c StoredVINCheck) VINCheck
}

// Verdict of the authenticity analysis of an upload (CONTRACT §10).
type Verdict string

const (
	VerdictPass    Verdict = "pass"
	VerdictWarn    Verdict = "warn"
	VerdictFail    Verdict = "fail"
	VerdictPending Verdict = "pending"
)

// Level of one reason: a fail reason fails the verdict, a warn reason makes it warn at worst.
type Level string

const (
	LevelFail Level = "fail"
	LevelWarn Level = "warn"
)

// Reason codes of the authenticity analysis (CONTRACT §10).
const (
	ReasonDuplicateVideo         = "duplicate_video"           // fail
	ReasonRecordedBeforeTask     = "recorded_before_task"      // fail
	ReasonOdometerRollback       = "odometer_rollback"         // fail
	ReasonVINMismatch            = "vin_mismatch"              // fail
	ReasonRecordedLongBeforeSent = "recorded_long_before_sent" // warn, 48 h
	ReasonLocationMismatch       = "location_mismatch"         // warn, 1000 m
	ReasonNoCaptureMetadata      = "no_capture_metadata"       // warn
	ReasonEditedVideo            = "edited_video"              // warn
	ReasonTooShort               = "too_short"                 // warn, 3 s
	ReasonClockSkew              = "clock_skew"                // warn, 15 min
)

// Reason is one finding of the analysis; Facts carries the numbers it was decided on.
type Reason struct {
	Code    string         `json:"code"`
	Level   Level          `json:"level"`
	Message string         `json:"message"`
	Facts   map[string]any `json:"facts"`
}

// Location is where a video says it was recorded.
type Location struct {
	Lat  float64 `json:"lat"`
	Long float64 `json:"long"`
}

// VideoFacts are what the analysis read from the file; nil or zero when the file does not say.
type VideoFacts struct {
	DurationS  float64   `json:"duration_s"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	RecordedAt *string   `json:"recorded_at"` // local Kazakhstan time, as every date-time in payloads
	Location   *Location `json:"location"`
	Make       string    `json:"make"`
	Model      string    `json:"model"`
	Software   string    `json:"software"`
}

// Authenticity is the analysis of an upload as the 1C feed shows it.
type Authenticity struct {
	Verdict   Verdict     `json:"verdict"`
	Reasons   []Reason    `json:"reasons"`
	Video     *VideoFacts `json:"video"`
	CheckedAt *time.Time  `json:"checked_at"`
}

// StoredAnalysis is an authenticity_checks row as the 1C feed's own statement reads it (see
// StoredVINCheck); Status is empty when the upload has no row yet.
type StoredAnalysis struct {
	Status, File, Reasons string // File and Reasons: JSON text as stored
	CheckedAt             *time.Time
}

// AuthenticityChecks turns a stored analysis into the one 1C sees in the feed (the media analysis
// provides it).
type AuthenticityChecks interface {
	FromStored(a StoredAnalysis) Authenticity
}

// CanonicalKey is the one spelling of a 1C GUID or ref_key: trimmed and lower-case, as the seed shows
// them and as they are stored. iOS's UUID().uuidString and some 1C exports send them upper-case; the
// case carries no meaning (CONTRACT §8).
func CanonicalKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Upload is a video being recorded against its report.
type Upload struct {
	ID         int64
	ReportID   int64
	CompanyID  int64
	UploaderID int64
	RefKey     string
	ObjectKey  string
	Size       int64
	SHA256     string
}

// UploadHook is work that must commit with every upload, such as enqueueing a job that examines it
// (jobs.Queue.InsertTx with tx). It runs inside the upload's transaction, after the upload row is
// written; an error rolls the whole upload back and the client is told to try again.
type UploadHook interface {
	UploadCommitting(ctx context.Context, tx *sql.Tx, u Upload) error
}

// VINCheckHook is work that must commit with a finished VIN check, such as queueing the upload's
// authenticity re-evaluation (jobs.Queue.InsertTx with tx). It runs inside the transaction that stores
// the check; an error rolls the check back, and its job tries again.
type VINCheckHook interface {
	VINChecked(ctx context.Context, tx *sql.Tx, uploadID int64) error
}

// ReportChanges stamps a report with the next number of the report change counter inside tx, so that
// the 1C feed shows it again (the reports feature provides it, to features it itself depends on).
type ReportChanges interface {
	ReportChanged(ctx context.Context, tx *sql.Tx, reportID int64) error
}

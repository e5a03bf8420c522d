package authenticity

import "time"

// Verdict of the analysis of an upload (CONTRACT §10).
type Verdict string

const (
	VerdictPass    Verdict = "pass"
	VerdictWarn    Verdict = "warn"
	VerdictFail    Verdict = "fail"
	VerdictPending Verdict = "pending"
)

// Level of one reason.
type Level string

const (
	LevelFail Level = "fail"
	LevelWarn Level = "warn"
)

// Reason codes (CONTRACT §10).
const (
	ReasonDuplicateVideo         = "duplicate_video"
	ReasonRecordedBeforeTask     = "recorded_before_task"
	ReasonOdometerRollback       = "odometer_rollback"
	ReasonVINMismatch            = "vin_mismatch"
	ReasonRecordedLongBeforeSent = "recorded_long_before_sent"
	ReasonLocationMismatch       = "location_mismatch"
	ReasonNoCaptureMetadata      = "no_capture_metadata"
	ReasonEditedVideo            = "edited_video"
	ReasonTooShort               = "too_short"
	ReasonClockSkew              = "clock_skew"
)

// Reason is one finding; Facts carries the numbers it was decided on.
type Reason struct {
	Code    string         `json:"code"`
	Level   Level          `json:"level"`
	Message string         `json:"message"`
	Facts   map[string]any `json:"facts"`
}

// Location is a point in decimal degrees.
type Location struct {
	Lat  float64 `json:"lat"`
	Long float64 `json:"long"`
}

// VideoFacts are what the file says, as the feed shows them.
type VideoFacts struct {
	DurationS  float64   `json:"duration_s"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	RecordedAt *string   `json:"recorded_at"`
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

package authenticity

import "github.com/forteleasing/inspections"

// The result types are the root package's (CONTRACT §10), named here for the rules' brevity.
type (
	Verdict      = inspections.Verdict
	Level        = inspections.Level
	Reason       = inspections.Reason
	Location     = inspections.Location
	VideoFacts   = inspections.VideoFacts
	Authenticity = inspections.Authenticity
)

const (
	VerdictPass    = inspections.VerdictPass
	VerdictWarn    = inspections.VerdictWarn
	VerdictFail    = inspections.VerdictFail
	VerdictPending = inspections.VerdictPending
	LevelFail      = inspections.LevelFail
	LevelWarn      = inspections.LevelWarn

	ReasonDuplicateVideo         = inspections.ReasonDuplicateVideo
	ReasonRecordedBeforeTask     = inspections.ReasonRecordedBeforeTask
	ReasonOdometerRollback       = inspections.ReasonOdometerRollback
	ReasonVINMismatch            = inspections.ReasonVINMismatch
	ReasonRecordedLongBeforeSent = inspections.ReasonRecordedLongBeforeSent
	ReasonLocationMismatch       = inspections.ReasonLocationMismatch
	ReasonNoCaptureMetadata      = inspections.ReasonNoCaptureMetadata
	ReasonEditedVideo            = inspections.ReasonEditedVideo
	ReasonTooShort               = inspections.ReasonTooShort
	ReasonClockSkew              = inspections.ReasonClockSkew
)

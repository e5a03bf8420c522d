// Package apperr is the service's one error type: a code that decides the HTTP status,
// a message safe to show to clients, and optional per-field problems.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error; internal/httpx maps each code to one HTTP status.
type Code string

const (
	Invalid       Code = "invalid"
	Unauthorized  Code = "unauthorized"
	Forbidden     Code = "forbidden"
	NotFound      Code = "not_found"
	Conflict      Code = "conflict"
	TooLarge      Code = "too_large"
	Unprocessable Code = "unprocessable"
	RateLimited   Code = "rate_limited"
	Unavailable   Code = "unavailable"
	// UnsupportedMedia is a body that is not what the endpoint takes (not a video): 415.
	UnsupportedMedia Code = "unsupported_media_type"
	// ChecksumMismatch is a body whose checksum differs from the one the client declared: 460 (tus).
	ChecksumMismatch Code = "checksum_mismatch"
	Internal         Code = "internal"
)

// FieldError names one bad input. Index is set for items of a batch.
type FieldError struct {
	Index   *int   `json:"index,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is returned by services and stores; handlers pass it up unchanged.
type Error struct {
	Code Code
	// Reason is the machine-readable snake_case code clients switch on; defaults to Code.
	Reason     string
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration
	Err        error // cause, logged but never shown
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the snake_case code for the envelope.
func (e *Error) ErrorCode() string {
	if e.Reason != "" {
		return e.Reason
	}
	return string(e.Code)
}

// New builds an error with a client-safe message.
func New(code Code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wrap records cause behind a client-safe message.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Fields reports validation problems; code is Invalid (400) or Unprocessable (422).
func Fields(code Code, message string, fields []FieldError) *Error {
	return &Error{Code: code, Message: message, Fields: fields}
}

// CodeOf returns the code of err, or Internal for errors of other types.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// FieldList gathers field errors while validating input.
type FieldList []FieldError

func (l *FieldList) Add(field, format string, args ...any) {
	*l = append(*l, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// AddAt records a problem of batch item i.
func (l *FieldList) AddAt(i int, field, format string, args ...any) {
	idx := i
	*l = append(*l, FieldError{Index: &idx, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when the list is empty.
func (l FieldList) Err(code Code, message string) error {
	if len(l) == 0 {
		return nil
	}
	return Fields(code, message, l)
}

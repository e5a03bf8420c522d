// Package provider talks to the outside registries that know a vehicle by plate or VIN (Okpock, REGNUM),
// its odometer history and its dealer service history, each behind the same timeouts, retries, breaker and cache.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Lookup turns a licence plate into what a registry knows about the vehicle.
type Lookup interface {
	Name() string
	// VINByPlate returns ErrNotFound when the registry has no such vehicle.
	VINByPlate(ctx context.Context, plate string) (VehicleFacts, error)
}

// VehicleFacts is what a registry said about one vehicle. VIN is normalised when the registry's
// value is a standard VIN and kept as sent otherwise (masked or pre-1981 numbers), see Raw.
type VehicleFacts struct {
	Provider  string
	VIN       string
	Plate     string
	Make      string
	Model     string
	Year      int
	Accidents *int           // nil when the registry did not give a count
	Raw       map[string]any // a few extra facts worth storing, never the whole payload
}

var (
	ErrNotFound      = errors.New("provider: not found")
	ErrNotConfigured = errors.New("provider: not configured")
	ErrUnavailable   = errors.New("provider: unavailable") // 5xx, timeouts, breaker open
	ErrUnauthorized  = errors.New("provider: credentials rejected")
	ErrQuota         = errors.New("provider: balance or quota exhausted")
	ErrBadRequest    = errors.New("provider: request rejected")
)

// Error is a failed call. Kind is one of the sentinels above; Status is the HTTP status, or the
// status inside the payload for providers that answer 200 with an error status (REGNUM).
type Error struct {
	Provider string
	Op       string
	Status   int
	Code     string // the provider's own code, or ours for transport failures ("timeout", "connection", "circuit_open")
	Message  string // the provider's message, scrubbed of credentials
	Kind     error

	temporary bool // worth another try: 503, 504, timeouts, refused connections
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	if e.Status != 0 {
		b.WriteString(": status " + strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" && e.Message != e.Code {
		b.WriteString(": " + e.Message)
	}
	return fmt.Sprintf("%s: %v", b.String(), e.Kind)
}

func (e *Error) Unwrap() error { return e.Kind }

// Outcome names the class of err for metrics and for callers that store a status.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrNotConfigured):
		return "not_configured"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, ErrQuota):
		return "quota"
	case errors.Is(err, ErrBadRequest):
		return "bad_request"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "error"
	}
}

// kindForStatus is the one table from HTTP (or payload) status to error kind. All four documents
// fit it: 403 is Okpock's disabled User-Agent and REGNUM's unconfirmed account, both fixed only
// by the account owner; 501 is Okpock's "changed JSON payload", unavailable until we ship a fix.
func kindForStatus(status int) (kind error, temporary bool) {
	switch {
	case status == 401, status == 403:
		return ErrUnauthorized, false
	case status == 402, status == 429:
		return ErrQuota, false
	case status == 404:
		return ErrNotFound, false
	case status == 503, status == 504:
		return ErrUnavailable, true
	case status >= 500:
		return ErrUnavailable, false
	default:
		return ErrBadRequest, false
	}
}

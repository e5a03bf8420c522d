// Package vincheck checks the vehicle of each committed upload against the registries (CONTRACT §6):
// plate → VIN through the provider chain, compared with the VIN 1C holds, Okpock's preview facts, and the
// odometer reading registered. Checks run as durable River jobs in the service's own database.
package vincheck

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/vehicles/provider"
)

// Statuses of a check (CONTRACT §6).
const (
	StatusPending       = inspections.VINPending
	StatusMatch         = inspections.VINMatch
	StatusMismatch      = inspections.VINMismatch
	StatusNotFound      = inspections.VINNotFound
	StatusUnavailable   = inspections.VINUnavailable
	StatusNotConfigured = inspections.VINNotConfigured
)

// Result is a check as 1C sees it in the feed's vin_check and from POST /1c/vehicles/{guid}/check.
type Result = inspections.VINCheck

// Input is what one check needs to know.
type Input struct {
	RefKey      string   // the report's, used as the odometer registration's ticket_id
	VINExpected string   // from 1C
	Plate       string   // from 1C
	Odometer    *float64 // the reading sent with the video, if any
	// Registered is the registry's answer to this reading from an earlier try of the same check. A
	// registration is a write: a retry keeps it instead of registering the reading twice.
	Registered map[string]any
}

// Providers are the registries a check asks. A nil or unconfigured one answers not_configured.
type Providers struct {
	Lookup   provider.Lookup    // plate → VIN: Okpock, then REGNUM
	Okpock   *provider.Okpock   // preview facts
	Odometer *provider.Odometer // reading registration
}

// Checker runs checks.
type Checker struct {
	p   Providers
	now func() time.Time
}

func NewChecker(p Providers, now func() time.Time) *Checker {
	if now == nil {
		now = time.Now
	}
	return &Checker{p: p, now: now}
}

// Check asks the registries. Its result is unavailable when a registry that might know was down; the
// job retries those.
func (c *Checker) Check(ctx context.Context, in Input) Result {
	r := Result{Status: StatusNotConfigured, VINExpected: in.VINExpected, Facts: map[string]any{}}
	if c.p.Lookup != nil {
		f, err := c.p.Lookup.VINByPlate(ctx, in.Plate)
		switch {
		case err == nil:
			r.Provider, r.VINFound = f.Provider, f.VIN
			r.Status = StatusMismatch
			if provider.MatchVIN(in.VINExpected, f.VIN) {
				r.Status = StatusMatch
			}
			addFacts(r.Facts, f)
		case errors.Is(err, provider.ErrNotFound):
			r.Status, r.Provider = StatusNotFound, asked(err)
		case errors.Is(err, provider.ErrNotConfigured):
			r.Status = StatusNotConfigured
		default:
			r.Status, r.Provider = StatusUnavailable, asked(err)
			r.Facts["error"] = provider.Outcome(err)
		}
	}
	if applies, valid := provider.VINCheckDigit(in.VINExpected); applies {
		r.Facts["vin_expected_check_digit_valid"] = valid
	}
	if r.Status == StatusMatch || r.Status == StatusMismatch {
		c.preview(ctx, in, r.Facts)
	}
	r.Odometer = c.register(ctx, in, r.VINFound)
	now := c.now().UTC()
	r.CheckedAt = &now
	return r
}

// preview adds Okpock's mark, model, year and accidents.
func (c *Checker) preview(ctx context.Context, in Input, facts map[string]any) {
	if c.p.Okpock == nil {
		return
	}
	f, err := c.p.Okpock.Preview(ctx, provider.Query{Plate: in.Plate})
	switch {
	case err == nil:
		addFacts(facts, f)
	case !errors.Is(err, provider.ErrNotConfigured):
		facts["preview_error"] = provider.Outcome(err)
	}
}

// register registers the upload's odometer reading (ticket_id = the report's ref_key) and keeps the
// registry's is_breaking; nil when there is no reading or no registry.
func (c *Checker) register(ctx context.Context, in Input, vinFound string) map[string]any {
	if in.Odometer == nil || c.p.Odometer == nil {
		return nil
	}
	if in.Registered["id"] != nil {
		return in.Registered
	}
	vin := in.VINExpected
	if vin == "" {
		vin = vinFound
	}
	reg, err := c.p.Odometer.Register(ctx, provider.NewRegistration{Value: *in.Odometer, VIN: vin, TicketID: in.RefKey})
	switch {
	case err == nil:
		return map[string]any{"id": reg.ID, "value": reg.Value, "is_breaking": reg.IsBreaking}
	case errors.Is(err, provider.ErrNotConfigured):
		return nil
	default:
		return map[string]any{"value": *in.Odometer, "error": provider.Outcome(err)}
	}
}

// asked names the configured registries behind a chain's not-found or failure ("okpock+regnum").
func asked(err error) string {
	var chain *provider.ChainError
	if !errors.As(err, &chain) {
		var pe *provider.Error
		if errors.As(err, &pe) {
			return pe.Provider
		}
		return ""
	}
	var names []string
	for _, e := range chain.Errs {
		var pe *provider.Error
		if !errors.Is(e, provider.ErrNotConfigured) && errors.As(e, &pe) && !slices.Contains(names, pe.Provider) {
			names = append(names, pe.Provider)
		}
	}
	return strings.Join(names, "+")
}

func addFacts(m map[string]any, f provider.VehicleFacts) {
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	set("mark", f.Make, f.Make != "")
	set("model", f.Model, f.Model != "")
	set("year", f.Year, f.Year != 0)
	set("accidents", f.Accidents, f.Accidents != nil)
	set("plate", f.Plate, f.Plate != "")
	for k, v := range f.Raw {
		m[k] = v
	}
}

package provider

import (
	"context"
	"errors"
	"strings"
)

// Chain asks its lookups in order (Okpock, then REGNUM) until one knows the plate.
type Chain struct {
	lookups []Lookup
}

func NewChain(lookups ...Lookup) *Chain { return &Chain{lookups: lookups} }

func (c *Chain) Name() string {
	names := make([]string, len(c.lookups))
	for i, l := range c.lookups {
		names[i] = l.Name()
	}
	return strings.Join(names, "+")
}

// ChainError says why no lookup answered. Kind is ErrNotFound when every configured lookup said
// not found, ErrNotConfigured when none is configured, and ErrUnavailable when any failed
// otherwise (down, credentials rejected, out of balance), since its answer is then unknown.
type ChainError struct {
	Kind error
	Errs []error // one per lookup, in order
}

func (e *ChainError) Error() string {
	parts := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		parts[i] = err.Error()
	}
	return e.Kind.Error() + " [" + strings.Join(parts, "; ") + "]"
}

func (e *ChainError) Unwrap() error { return e.Kind }

// VINByPlate returns the first answer; VehicleFacts.Provider tells which lookup gave it.
func (c *Chain) VINByPlate(ctx context.Context, plate string) (VehicleFacts, error) {
	var errs []error
	notFound, failed := false, false
	for _, l := range c.lookups {
		f, err := l.VINByPlate(ctx, plate)
		if err == nil {
			if f.Provider == "" {
				f.Provider = l.Name()
			}
			return f, nil
		}
		if ctx.Err() != nil {
			return VehicleFacts{}, err
		}
		errs = append(errs, err)
		switch {
		case errors.Is(err, ErrNotConfigured):
		case errors.Is(err, ErrNotFound):
			notFound = true
		default:
			failed = true
		}
	}
	kind := ErrNotConfigured
	switch {
	case failed:
		kind = ErrUnavailable
	case notFound:
		kind = ErrNotFound
	}
	return VehicleFacts{}, &ChainError{Kind: kind, Errs: errs}
}

package provider

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

type stubLookup struct {
	name  string
	facts VehicleFacts
	err   error
	calls int
}

func (s *stubLookup) Name() string { return s.name }
func (s *stubLookup) VINByPlate(ctx context.Context, plate string) (VehicleFacts, error) {
	s.calls++
	return s.facts, s.err
}

func TestChain(t *testing.T) {
	found := func(name string) *stubLookup {
		return &stubLookup{name: name, facts: VehicleFacts{Provider: name, VIN: "JTHBG262282011458"}}
	}
	failing := func(name string, err error) *stubLookup { return &stubLookup{name: name, err: err} }
	tests := []struct {
		name         string
		okpock       *stubLookup
		regnum       *stubLookup
		wantProvider string
		wantKind     error
		regnumCalls  int
	}{
		{"okpock answers", found("okpock"), found("regnum"), "okpock", nil, 0},
		{"okpock not found, regnum answers", failing("okpock", ErrNotFound), found("regnum"), "regnum", nil, 1},
		{"okpock not configured, regnum answers", failing("okpock", ErrNotConfigured), found("regnum"), "regnum", nil, 1},
		{"okpock down, regnum answers", failing("okpock", ErrUnavailable), found("regnum"), "regnum", nil, 1},
		{"okpock rejects us, regnum answers", failing("okpock", ErrUnauthorized), found("regnum"), "regnum", nil, 1},
		{"both not found", failing("okpock", ErrNotFound), failing("regnum", ErrNotFound), "", ErrNotFound, 1},
		{"not found and not configured", failing("okpock", ErrNotFound), failing("regnum", ErrNotConfigured), "", ErrNotFound, 1},
		{"not found and down", failing("okpock", ErrNotFound), failing("regnum", ErrUnavailable), "", ErrUnavailable, 1},
		{"down and not found", failing("okpock", ErrUnavailable), failing("regnum", ErrNotFound), "", ErrUnavailable, 1},
		{"not found and out of balance", failing("okpock", ErrNotFound), failing("regnum", ErrQuota), "", ErrUnavailable, 1},
		{"none configured", failing("okpock", ErrNotConfigured), failing("regnum", ErrNotConfigured), "", ErrNotConfigured, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChain(tt.okpock, tt.regnum)
			f, err := c.VINByPlate(context.Background(), "A929YLO")
			if tt.wantKind != nil {
				if !errors.Is(err, tt.wantKind) {
					t.Fatalf("err = %v, want %v", err, tt.wantKind)
				}
				for _, other := range []error{ErrNotFound, ErrUnavailable, ErrNotConfigured} {
					if other != tt.wantKind && errors.Is(err, other) {
						t.Errorf("err = %v also matches %v", err, other)
					}
				}
				if ce, ok := errors.AsType[*ChainError](err); !ok || len(ce.Errs) != 2 {
					t.Errorf("err = %#v, want both causes", err)
				}
			} else if err != nil || f.Provider != tt.wantProvider {
				t.Fatalf("got %+v, %v; want from %s", f, err, tt.wantProvider)
			}
			if tt.regnum.calls != tt.regnumCalls {
				t.Errorf("regnum calls = %d, want %d", tt.regnum.calls, tt.regnumCalls)
			}
		})
	}
	if name := NewChain(found("okpock"), found("regnum")).Name(); name != "okpock+regnum" {
		t.Errorf("name = %q", name)
	}
}

func TestChain_RealClientsOkpockNotFoundThenRegnum(t *testing.T) {
	okpock := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 404, "application/json", okpockNotFoundAnswer)
	})
	regnum := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		reply(w, 200, "application/xml", regnumXMLAnswer)
	})
	c := NewChain(okpockClient(okpock.URL, fastOptions(nil)), regnumClient(regnum.URL, fastOptions(nil)))
	f, err := c.VINByPlate(context.Background(), "AB123CD")
	if err != nil || f.Provider != "regnum" || f.Make != "HYUNDAI" {
		t.Fatalf("got %+v, %v", f, err)
	}
	c = NewChain(NewOkpock(OkpockConfig{}, fastOptions(nil)), NewRegnum(RegnumConfig{}, fastOptions(nil)))
	if _, err := c.VINByPlate(context.Background(), "AB123CD"); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v", err)
	}
}

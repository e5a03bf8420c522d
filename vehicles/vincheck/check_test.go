package vincheck

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/forteleasing/inspections/vehicles/provider"
)

// lookup answers every plate with the same facts or error.
type lookup struct {
	facts provider.VehicleFacts
	err   error
}

func (l lookup) Name() string { return "fake" }
func (l lookup) VINByPlate(context.Context, string) (provider.VehicleFacts, error) {
	return l.facts, l.err
}

func chainErr(kind error, errs ...error) error { return &provider.ChainError{Kind: kind, Errs: errs} }

func providerErr(name string, kind error) error {
	return &provider.Error{Provider: name, Status: 404, Kind: kind}
}

func TestVINCheck_StatusFromTheLookup(t *testing.T) {
	const vin = "JTHBG262282011458"
	notConfigured := &provider.Error{Provider: "regnum", Kind: provider.ErrNotConfigured}
	for _, tc := range []struct {
		name                    string
		lookup                  provider.Lookup
		status, provider, found string
		facts                   map[string]any
	}{
		{"match", lookup{facts: provider.VehicleFacts{Provider: "okpock", VIN: vin, Make: "LEXUS", Year: 2007}},
			StatusMatch, "okpock", vin, map[string]any{"mark": "LEXUS", "year": 2007}},
		{"masked match", lookup{facts: provider.VehicleFacts{Provider: "regnum", VIN: "JTHBG2622820*****"}},
			StatusMatch, "regnum", "JTHBG2622820*****", nil},
		{"mismatch", lookup{facts: provider.VehicleFacts{Provider: "regnum", VIN: "WVWZZZ31ZLE147331"}},
			StatusMismatch, "regnum", "WVWZZZ31ZLE147331", nil},
		{"not found by the configured ones", lookup{err: chainErr(provider.ErrNotFound, providerErr("okpock", provider.ErrNotFound), notConfigured)},
			StatusNotFound, "okpock", "", nil},
		{"one down", lookup{err: chainErr(provider.ErrUnavailable, providerErr("okpock", provider.ErrNotFound), providerErr("regnum", provider.ErrUnavailable))},
			StatusUnavailable, "okpock+regnum", "", map[string]any{"error": "unavailable"}},
		{"none configured", lookup{err: chainErr(provider.ErrNotConfigured, notConfigured)},
			StatusNotConfigured, "", "", nil},
		{"no lookup", nil, StatusNotConfigured, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.FixedZone("ALMT", 5*3600))
			r := NewChecker(Providers{Lookup: tc.lookup}, func() time.Time { return at }).Check(context.Background(), Input{VINExpected: vin, Plate: "111AAA02"})
			if r.Status != tc.status || r.Provider != tc.provider || r.VINFound != tc.found || r.VINExpected != vin {
				t.Fatalf("got %s/%q found %q expected %q", r.Status, r.Provider, r.VINFound, r.VINExpected)
			}
			for k, v := range tc.facts {
				if r.Facts[k] != v {
					t.Errorf("facts[%s] = %v, want %v (%v)", k, r.Facts[k], v, r.Facts)
				}
			}
			if r.Facts["vin_expected_check_digit_valid"] != true {
				t.Errorf("check digit of %s not reported valid: %v", vin, r.Facts)
			}
			if r.CheckedAt == nil || !r.CheckedAt.Equal(at) || r.CheckedAt.Location() != time.UTC {
				t.Errorf("checked_at %v", r.CheckedAt)
			}
			if r.Odometer != nil {
				t.Errorf("odometer %v without a reading", r.Odometer)
			}
		})
	}
}

func TestVINCheck_AnEarlierOdometerRegistrationIsKept(t *testing.T) {
	calls := 0
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer registry.Close()
	odometer := provider.NewOdometer(provider.OdometerConfig{URL: registry.URL, TokenURL: registry.URL + "/token", ClientID: "id", ClientSecret: "s"}, provider.Options{MaxTries: 1})
	c := NewChecker(Providers{Odometer: odometer}, nil)
	km := 120345.0
	earlier := map[string]any{"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "value": km, "is_breaking": true}
	in := Input{RefKey: "0b0e4a4e-5d37-4a51-9c1f-6f1d3c2b9a10", VINExpected: "JTHBG262282011458", Odometer: &km, Registered: earlier}

	r := c.Check(context.Background(), in)
	if got, _ := json.Marshal(r.Odometer); string(got) != `{"id":"497f6eca-6276-4993-bfeb-53cbbbba6f08","is_breaking":true,"value":120345}` || calls != 0 {
		t.Fatalf("odometer %s after %d calls to the registry", got, calls)
	}
	// Without an earlier registration the reading is registered; a registry that is down is recorded.
	in.Registered = nil
	r = c.Check(context.Background(), in)
	if r.Odometer["error"] != "unavailable" || r.Odometer["value"] != km || calls == 0 {
		t.Fatalf("odometer %v after %d calls", r.Odometer, calls)
	}
}

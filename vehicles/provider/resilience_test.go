package provider

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/wait"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scripted answers Okpock's /info with the given statuses in turn, then with the last one.
func scripted(t *testing.T, statuses ...int) *fakeProvider {
	var n atomic.Int32
	return newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		i := int(n.Add(1)) - 1
		s := statuses[min(i, len(statuses)-1)]
		if s == 200 {
			reply(w, 200, "application/json", okpockInfoAnswer)
			return
		}
		reply(w, s, "application/json", okpockErrorAnswer(s))
	})
}

func TestRetry_503TwiceThen200Succeeds(t *testing.T) {
	srv := scripted(t, 503, 503, 200)
	f, err := okpockClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "A929YLO")
	if err != nil || f.VIN != "JTHBG262282011458" {
		t.Fatalf("got %+v, %v", f, err)
	}
	if srv.calls() != 3 {
		t.Errorf("calls = %d, want 3", srv.calls())
	}
}

func TestRetry_NeverOnNotFoundOrUnauthorized(t *testing.T) {
	for _, status := range []int{404, 401} {
		srv := scripted(t, status)
		_, err := okpockClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "A929YLO")
		if err == nil || srv.calls() != 1 {
			t.Errorf("%d: err = %v after %d calls, want 1 call", status, err, srv.calls())
		}
	}
}

func TestRetry_GivesUpAfterMaxTries(t *testing.T) {
	srv := scripted(t, 503)
	_, err := okpockClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "A929YLO")
	if !errors.Is(err, ErrUnavailable) || srv.calls() != 3 {
		t.Fatalf("err = %v after %d calls", err, srv.calls())
	}
}

func TestBreaker_OpensOnUnavailabilityFailsFastAndRecovers(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if down.Load() {
			reply(w, 503, "application/json", okpockErrorAnswer(503))
			return
		}
		reply(w, 200, "application/json", okpockInfoAnswer)
	})
	opts := fastOptions(nil)
	opts.MaxTries, opts.BreakerFailures, opts.BreakerTimeout, opts.CacheSize = 1, 3, 150*time.Millisecond, -1
	c := okpockClient(srv.URL, opts)
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		if _, err := c.VINByPlate(ctx, "A929YLO"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Failing fast is failing without a request: the open breaker answers circuit_open itself.
	_, err := c.VINByPlate(ctx, "A929YLO")
	if e, ok := errors.AsType[*Error](err); !ok || !errors.Is(err, ErrUnavailable) || e.Code != "circuit_open" {
		t.Fatalf("open breaker: err = %v", err)
	}
	if srv.calls() != 3 {
		t.Errorf("open breaker sent a request (calls = %d)", srv.calls())
	}

	// gobreaker keeps its own clock: the half-open state comes after BreakerTimeout of real time. Until
	// then every call is refused without a request; the first one after it is let through and succeeds.
	down.Store(false)
	var refused int
	wait.Until(t, func() bool {
		_, err := c.VINByPlate(ctx, "A929YLO")
		if e, ok := errors.AsType[*Error](err); ok && e.Code == "circuit_open" {
			refused++
			return false
		}
		if err != nil {
			t.Fatalf("after breaker timeout: %v", err)
		}
		return true
	}, "the breaker to let a call through after its timeout")
	if srv.calls() != 4 {
		t.Errorf("calls = %d, want 4: %d calls refused while open sent no request, then one went through", srv.calls(), refused)
	}
}

func TestBreaker_IgnoresNotFound(t *testing.T) {
	srv := scripted(t, 404)
	opts := fastOptions(nil)
	opts.BreakerFailures, opts.CacheSize = 2, -1
	c := okpockClient(srv.URL, opts)
	for i := 0; i < 5; i++ {
		if _, err := c.VINByPlate(context.Background(), "A929YLO"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if srv.calls() != 5 {
		t.Errorf("calls = %d, want 5: not-found must not open the breaker", srv.calls())
	}
}

func TestTimeout_HangingProviderIsUnavailableWithinTheTimeout(t *testing.T) {
	release := make(chan struct{})
	var abandoned atomic.Int32
	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		select {
		case <-release:
		case <-r.Context().Done():
			abandoned.Add(1)
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close, which waits for handlers
	opts := fastOptions(nil)
	opts.Timeout = 300 * time.Millisecond
	c := okpockClient(srv.URL, opts)

	// The provider never answers (release only comes at cleanup): the call can only end by its own timeout.
	_, err := c.VINByPlate(context.Background(), "A929YLO")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if e, _ := errors.AsType[*Error](err); e == nil || e.Code != "timeout" {
		t.Errorf("err = %#v, want code timeout", err)
	}
	// …and the hanging request was given up, not left open.
	wait.Until(t, func() bool { return abandoned.Load() == int32(srv.calls()) }, "the hanging request to be cancelled")
}

func TestTimeout_CallerCancellationIsNotUnavailability(t *testing.T) {
	release := make(chan struct{})
	srv := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	opts := fastOptions(nil)
	opts.BreakerFailures = 1
	c := okpockClient(srv.URL, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.VINByPlate(ctx, "A929YLO")
	if errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if st := c.g.breaker.State().String(); st != "closed" {
		t.Errorf("breaker %s after the caller gave up", st)
	}
}

func TestCache_SecondLookupMakesNoRequest(t *testing.T) {
	srv := newOkpockFake(t)
	c := okpockClient(srv.URL, fastOptions(nil))
	ctx := context.Background()
	for _, plate := range []string{"A929YLO", "a 929-ylo"} {
		if f, err := c.VINByPlate(ctx, plate); err != nil || f.VIN != "JTHBG262282011458" {
			t.Fatalf("%q: %+v, %v", plate, f, err)
		}
	}
	for range 2 {
		if _, err := c.VINByPlate(ctx, "000ZZZ00"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	}
	if srv.calls() != 2 {
		t.Errorf("calls = %d, want 2 (one found, one not found)", srv.calls())
	}
	// A different operation on the same plate is a different answer.
	if _, err := c.Preview(ctx, Query{Plate: "A929YLO"}); err != nil || srv.calls() != 3 {
		t.Errorf("preview: %v, calls = %d", err, srv.calls())
	}
}

func TestCache_KeepsNoFailures(t *testing.T) {
	srv := scripted(t, 401, 200)
	c := okpockClient(srv.URL, fastOptions(nil))
	if _, err := c.VINByPlate(context.Background(), "A929YLO"); !errors.Is(err, ErrUnauthorized) {
		t.Fatal(err)
	}
	if _, err := c.VINByPlate(context.Background(), "A929YLO"); err != nil || srv.calls() != 2 {
		t.Fatalf("err = %v, calls = %d", err, srv.calls())
	}
}

func TestCache_ExpiresAfterTTL(t *testing.T) {
	srv := newOkpockFake(t)
	opts := fastOptions(nil)
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	opts.CacheTTL, opts.Now = time.Hour, func() time.Time { return now }
	c := okpockClient(srv.URL, opts)
	c.VINByPlate(context.Background(), "A929YLO")
	now = now.Add(59 * time.Minute)
	c.VINByPlate(context.Background(), "A929YLO")
	if srv.calls() != 1 {
		t.Errorf("calls = %d within the TTL, want 1 (served from the cache)", srv.calls())
	}
	now = now.Add(time.Minute)
	c.VINByPlate(context.Background(), "A929YLO")
	if srv.calls() != 2 {
		t.Errorf("calls = %d once the TTL passed, want 2", srv.calls())
	}
}

func TestMetrics_CountOutcomesOnTheGivenRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := fastOptions(reg)
	opts.CacheSize = -1
	srv := newOkpockFake(t)
	ok := okpockClient(srv.URL, opts)
	down := okpockClient(scripted(t, 503).URL, opts) // a second client on the same registry
	none := NewRegnum(RegnumConfig{}, opts)
	ctx := context.Background()

	ok.VINByPlate(ctx, "A929YLO")
	ok.VINByPlate(ctx, "A929YLO")
	ok.VINByPlate(ctx, "000ZZZ00")
	down.VINByPlate(ctx, "A929YLO")
	none.VINByPlate(ctx, "A929YLO")

	want := `
# HELP forteleasing_provider_calls_total Calls to outside vehicle providers by outcome (ok, not_found, unavailable, ...).
# TYPE forteleasing_provider_calls_total counter
forteleasing_provider_calls_total{operation="decode",outcome="not_configured",provider="regnum"} 1
forteleasing_provider_calls_total{operation="info",outcome="not_found",provider="okpock"} 1
forteleasing_provider_calls_total{operation="info",outcome="ok",provider="okpock"} 2
forteleasing_provider_calls_total{operation="info",outcome="unavailable",provider="okpock"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "forteleasing_provider_calls_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "forteleasing_provider_call_seconds"); n != 2 {
		t.Errorf("histogram series = %d, want 2 (okpock/info, regnum/decode)", n)
	}
}

func TestMetrics_NilRegistererRegistersNothing(t *testing.T) {
	srv := newOkpockFake(t)
	if _, err := okpockClient(srv.URL, fastOptions(nil)).VINByPlate(context.Background(), "A929YLO"); err != nil {
		t.Fatal(err)
	}
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "forteleasing_provider_") {
			t.Errorf("%s registered globally", f.GetName())
		}
	}
}

func TestNotConfigured_EveryCallFailsWithoutNetwork(t *testing.T) {
	ctx := context.Background()
	opts := fastOptions(nil)
	calls := map[string]func() error{
		"okpock info": func() error {
			_, err := NewOkpock(OkpockConfig{User: "u"}, opts).VINByPlate(ctx, "A929YLO")
			return err
		},
		"okpock preview": func() error { _, err := NewOkpock(OkpockConfig{}, opts).Preview(ctx, Query{Plate: "A"}); return err },
		"okpock report":  func() error { _, err := NewOkpock(OkpockConfig{}, opts).Report(ctx, Query{Plate: "A"}); return err },
		"regnum":         func() error { _, err := NewRegnum(RegnumConfig{ID: "x"}, opts).VINByPlate(ctx, "A929YLO"); return err },
		"odometer list": func() error {
			_, err := NewOdometer(OdometerConfig{}, opts).Registrations(ctx, "JH4KA7630PC007649", Page{})
			return err
		},
		"odometer no auth": func() error {
			_, err := NewOdometer(OdometerConfig{URL: "http://127.0.0.1:1"}, opts).Registrations(ctx, "JH4KA7630PC007649", Page{})
			return err
		},
		"odometer add": func() error {
			_, err := NewOdometer(OdometerConfig{}, opts).Register(ctx, NewRegistration{Value: 1, VIN: "JH4KA7630PC007649", TicketID: "595be628-f6f2-4262-9c10-6389c6c4a5b8"})
			return err
		},
		"odometer get": func() error { _, err := NewOdometer(OdometerConfig{}, opts).Registration(ctx, "x"); return err },
		"vagvin submit": func() error {
			_, err := NewVAGVIN(VAGVINConfig{}, opts).Submit(ctx, CheckRequest{VIN: "WVWZZZ31ZLE147331", Type: CheckErwin, Brand: "Audi", Language: LangEnglish})
			return err
		},
		"vagvin balance": func() error { _, err := NewVAGVIN(VAGVINConfig{Token: "t"}, opts).Balance(ctx); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrNotConfigured) {
			t.Errorf("%s: err = %v, want ErrNotConfigured", name, err)
		}
	}
}

func TestErrors_CarryNoCredentials(t *testing.T) {
	opts := fastOptions(nil)
	opts.MaxTries = 1
	ctx := context.Background()
	dead := closedURL(t)

	_, err := NewOkpock(OkpockConfig{URL: dead, User: "u", Password: "pw-Okp0ck!"}, opts).VINByPlate(ctx, "A929YLO")
	assertNoSecrets(t, err, "pw-Okp0ck!")
	_, err = NewRegnum(RegnumConfig{URL: dead + "/api", ID: "1", Seccode: "sc-R3gnum"}, opts).VINByPlate(ctx, "A929YLO")
	assertNoSecrets(t, err, "sc-R3gnum")
	_, err = NewOdometer(OdometerConfig{URL: dead, TokenURL: dead + "/token", ClientID: "id", ClientSecret: "cs-0d0"}, opts).Registrations(ctx, "JH4KA7630PC007649", Page{})
	assertNoSecrets(t, err, "cs-0d0")
	_, err = NewVAGVIN(VAGVINConfig{URL: dead, Token: "tk-V4g", CallbackSecret: "cb-V4g"}, opts).Balance(ctx)
	assertNoSecrets(t, err, "tk-V4g", "cb-V4g")

	// A provider echoing our credentials back has them scrubbed from the message.
	echo := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		_, pw, _ := r.BasicAuth()
		reply(w, 400, "application/json", `{"system": "OKPOCK", "status": 400, "message": "bad_request", "devMessage": "rejected password `+pw+`"}`)
	})
	_, err = NewOkpock(OkpockConfig{URL: echo.URL, User: "u", Password: "pw-Okp0ck!"}, opts).VINByPlate(ctx, "A929YLO")
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("err = %v", err)
	}
	assertNoSecrets(t, err, "pw-Okp0ck!")
}

func TestBreaker_LocalRejectionsDoNotResetIt(t *testing.T) {
	srv := scripted(t, 503)
	opts := fastOptions(nil)
	opts.MaxTries, opts.BreakerFailures = 1, 2
	c := okpockClient(srv.URL, opts)
	ctx := context.Background()
	c.VINByPlate(ctx, "A929YLO")
	if _, err := c.Preview(ctx, Query{}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("empty query: %v", err)
	}
	c.VINByPlate(ctx, "A929YLO")
	_, err := c.VINByPlate(ctx, "A929YLO")
	if e, ok := errors.AsType[*Error](err); !ok || e.Code != "circuit_open" || srv.calls() != 2 {
		t.Fatalf("err = %v after %d calls, want an open breaker after 2", err, srv.calls())
	}
}

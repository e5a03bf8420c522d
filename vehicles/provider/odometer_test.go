package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Payloads copied from the odometer document.
const (
	odometerRegistration = `{
  "id": "497f6eca-6276-4993-bfeb-53cbbbba6f08",
  "created_at": "2023-03-15T08:12:28Z",
  "is_breaking": true,
  "value": 182432.42,
  "vin": "JH4KA7630PC007649"
}`
	odometerListSample = `{
  "query": {
    },
  "result": [
    ],
  "total": 3255
}`
	odometerAddSample = `{
  "value": 182432.42,
  "vin": "JH4KA7630PC007649",
  "ticket_id": "595be628-f6f2-4262-9c10-6389c6c4a5b8"
}`
)

const (
	odoClientID     = "fl-client"
	odoClientSecret = "odo-secret-9f3k"
)

// odometerFake plays both the token endpoint and the API; apiStatus, when set, overrides the API's answer.
type odometerFake struct {
	*fakeProvider
	tokenCalls atomic.Int32
	issued     atomic.Int32
	apiStatus  atomic.Int32
}

func newOdometerFake(t *testing.T) *odometerFake {
	o := &odometerFake{}
	o.fakeProvider = newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if r.URL.Path == "/oauth/token" {
			o.tokenCalls.Add(1)
			id, secret, ok := r.BasicAuth()
			if r.Method != "POST" || !strings.Contains(body, "grant_type=client_credentials") || !ok ||
				id != odoClientID || secret != odoClientSecret {
				reply(w, 401, "application/json", `{"error": "invalid_client", "error_description": "client authentication failed"}`)
				return
			}
			n := o.issued.Add(1)
			reply(w, 200, "application/json", fmt.Sprintf(`{"access_token": "token-%d", "token_type": "Bearer", "expires_in": 3600}`, n))
			return
		}
		if r.Header.Get("Authorization") != fmt.Sprintf("Bearer token-%d", o.issued.Load()) {
			reply(w, 401, "application/problem+json", `{"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "invalid or expired token"}`)
			return
		}
		if s := int(o.apiStatus.Load()); s != 0 {
			reply(w, s, "application/problem+json", fmt.Sprintf(`{"type": "about:blank", "title": %q, "status": %d, "detail": "problem detail"}`, http.StatusText(s), s))
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/v2/vehicles/odometer-registrations" && r.URL.Query().Get("vin") == "JH4KA7630PC007649":
			reply(w, 200, "application/json", `{"query": {"limit": 25, "offset": 0, "sort_by": {"created_at": "desc"}, "vin": "JH4KA7630PC007649"}, "result": [`+odometerRegistration+`], "total": 1}`)
		case r.Method == "GET" && r.URL.Path == "/v2/vehicles/odometer-registrations":
			reply(w, 200, "application/json", odometerListSample)
		case r.Method == "POST" && r.URL.Path == "/v2/vehicles/odometer-registrations":
			reply(w, 201, "application/json", odometerRegistration)
		case r.Method == "GET" && r.URL.Path == "/v2/vehicles/odometer-registrations/497f6eca-6276-4993-bfeb-53cbbbba6f08":
			reply(w, 200, "application/json", odometerRegistration)
		default:
			reply(w, 404, "application/problem+json", `{"type": "about:blank", "title": "Not Found", "status": 404}`)
		}
	})
	return o
}

func odometerClient(o *odometerFake, secret string, opts Options) *Odometer {
	return NewOdometer(OdometerConfig{URL: o.URL, TokenURL: o.URL + "/oauth/token", ClientID: odoClientID, ClientSecret: secret}, opts)
}

func TestOdometer_ListsRegisterAndGetReuseOneToken(t *testing.T) {
	o := newOdometerFake(t)
	c := odometerClient(o, odoClientSecret, fastOptions(nil))
	ctx := context.Background()

	list, err := c.Registrations(ctx, "jh4ka7630pc007649", Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := Registration{ID: "497f6eca-6276-4993-bfeb-53cbbbba6f08", CreatedAt: time.Date(2023, 3, 15, 8, 12, 28, 0, time.UTC),
		IsBreaking: true, Value: 182432.42, VIN: "JH4KA7630PC007649"}
	if list.Total != 1 || len(list.Result) != 1 || list.Result[0] != want {
		t.Errorf("list = %+v", list)
	}
	req := o.last(t)
	if req.Method != "GET" || req.Query["vin"][0] != "JH4KA7630PC007649" || req.Query["sort_by[created_at]"][0] != "desc" ||
		req.Header.Get("Authorization") != "Bearer token-1" {
		t.Errorf("list request = %s %v %v", req.Method, req.Query, req.Header)
	}

	got, err := c.Register(ctx, NewRegistration{Value: 182432.42, VIN: "JH4KA7630PC007649", TicketID: "595be628-f6f2-4262-9c10-6389c6c4a5b8"})
	if err != nil {
		t.Fatal(err)
	}
	if got != want || !got.IsBreaking {
		t.Errorf("registered = %+v", got)
	}
	req = o.last(t)
	if req.Method != "POST" || req.Path != "/v2/vehicles/odometer-registrations" || req.Header.Get("Content-Type") != "application/json" ||
		compactJSON(t, req.Body) != compactJSON(t, odometerAddSample) {
		t.Errorf("register request = %s %s %s", req.Method, req.Path, req.Body)
	}

	one, err := c.Registration(ctx, "497f6eca-6276-4993-bfeb-53cbbbba6f08")
	if err != nil || one != want {
		t.Errorf("get = %+v, %v", one, err)
	}
	if n := o.tokenCalls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
}

func TestOdometer_ReadsDocumentedListSampleWithPaging(t *testing.T) {
	o := newOdometerFake(t)
	list, err := odometerClient(o, odoClientSecret, fastOptions(nil)).Registrations(context.Background(), "1HGCM82633A004352", Page{Limit: 100, Offset: 200})
	if err != nil {
		t.Fatal(err)
	}
	if list.Total != 3255 || len(list.Result) != 0 {
		t.Errorf("list = %+v", list)
	}
	if q := o.last(t).Query; q["limit"][0] != "100" || q["offset"][0] != "200" {
		t.Errorf("query = %v", q)
	}
}

func TestOdometer_RejectedTokenIsDroppedAndRefetched(t *testing.T) {
	o := newOdometerFake(t)
	c := odometerClient(o, odoClientSecret, fastOptions(nil))
	ctx := context.Background()
	if _, err := c.Registrations(ctx, "JH4KA7630PC007649", Page{}); err != nil {
		t.Fatal(err)
	}
	o.issued.Add(1) // the server forgets token-1
	if _, err := c.Registrations(ctx, "JH4KA7630PC007649", Page{}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	o.issued.Store(0) // next issue is token-1 again
	if _, err := c.Registrations(ctx, "JH4KA7630PC007649", Page{}); err != nil {
		t.Fatalf("after refetch: %v", err)
	}
	if n := o.tokenCalls.Load(); n != 2 {
		t.Errorf("token endpoint called %d times, want 2", n)
	}
}

func TestOdometer_WrongClientSecretIsUnauthorizedAndNotLeaked(t *testing.T) {
	o := newOdometerFake(t)
	_, err := odometerClient(o, "wrong-secret-77", fastOptions(nil)).Registrations(context.Background(), "JH4KA7630PC007649", Page{})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecrets(t, err, "wrong-secret-77", odoClientSecret)
	if o.calls() != int(o.tokenCalls.Load()) {
		t.Errorf("API called without a token")
	}
}

func TestOdometer_MapsProblemResponses(t *testing.T) {
	tests := []struct {
		status    int
		kind      error
		listCalls int // retried reads
		addCalls  int // writes retried only on 503
	}{
		{400, ErrBadRequest, 1, 1},
		{403, ErrUnauthorized, 1, 1},
		{404, ErrNotFound, 1, 1},
		{422, ErrBadRequest, 1, 1},
		{429, ErrQuota, 1, 1},
		{500, ErrUnavailable, 1, 1},
		{503, ErrUnavailable, 3, 3},
		{504, ErrUnavailable, 3, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			o := newOdometerFake(t)
			o.apiStatus.Store(int32(tt.status))
			opts := fastOptions(nil)
			opts.BreakerFailures = 100 // this test counts retries, not the breaker
			c := odometerClient(o, odoClientSecret, opts)
			_, err := c.Registrations(context.Background(), "JH4KA7630PC007649", Page{})
			e, ok := errors.AsType[*Error](err)
			if !errors.Is(err, tt.kind) || !ok || e.Status != tt.status || e.Message != "problem detail" {
				t.Errorf("list err = %#v, want %v", err, tt.kind)
			}
			before := o.calls()
			_, err = c.Register(context.Background(), NewRegistration{Value: 1000, VIN: "JH4KA7630PC007649", TicketID: "595be628-f6f2-4262-9c10-6389c6c4a5b8"})
			if !errors.Is(err, tt.kind) {
				t.Errorf("register err = %v, want %v", err, tt.kind)
			}
			apiCalls := before - int(o.tokenCalls.Load())
			if apiCalls != tt.listCalls || o.calls()-before != tt.addCalls {
				t.Errorf("calls list=%d register=%d, want %d and %d", apiCalls, o.calls()-before, tt.listCalls, tt.addCalls)
			}
		})
	}
}

func TestOdometer_InvalidInputNeverLeaves(t *testing.T) {
	o := newOdometerFake(t)
	c := odometerClient(o, odoClientSecret, fastOptions(nil))
	ctx := context.Background()
	bad := []NewRegistration{
		{Value: 100, VIN: "JH4KA7630PC00764", TicketID: "595be628-f6f2-4262-9c10-6389c6c4a5b8"},
		{Value: 0, VIN: "JH4KA7630PC007649", TicketID: "595be628-f6f2-4262-9c10-6389c6c4a5b8"},
		{Value: 100, VIN: "JH4KA7630PC007649", TicketID: "ref-1"},
	}
	for _, r := range bad {
		if _, err := c.Register(ctx, r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Register(%+v) err = %v", r, err)
		}
	}
	if _, err := c.Registrations(ctx, "JH4KA7630PC007649", Page{Limit: 1001}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("limit 1001: %v", err)
	}
	if o.calls() != 0 {
		t.Errorf("provider saw %d requests", o.calls())
	}
}

func TestOdometer_ExpiredTokenIsRefetched(t *testing.T) {
	o := newOdometerFake(t)
	var shift atomic.Int64
	opts := fastOptions(nil)
	opts.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	c := odometerClient(o, odoClientSecret, opts)
	ctx := context.Background()
	for range 2 {
		if _, err := c.Registrations(ctx, "JH4KA7630PC007649", Page{}); err != nil {
			t.Fatal(err)
		}
	}
	shift.Store(int64(time.Hour)) // expires_in was 3600: now within the safety margin
	if _, err := c.Registrations(ctx, "JH4KA7630PC007649", Page{}); err != nil {
		t.Fatal(err)
	}
	if n := o.tokenCalls.Load(); n != 2 {
		t.Errorf("token endpoint called %d times, want 2", n)
	}
	if got := o.last(t).Header.Get("Authorization"); got != "Bearer token-2" {
		t.Errorf("authorization = %q", got)
	}
}

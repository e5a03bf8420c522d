package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Odometer is the odometer registrations API (OAuth2 client credentials). A registration whose
// value is lower than the previous one for the VIN comes back with IsBreaking: a rollback.
type Odometer struct {
	cfg  OdometerConfig
	http *http.Client
	g    *guard

	now func() time.Time
	mu  sync.Mutex
	tok *oauth2.Token // reused until it nears expiry; dropped when the API rejects it
}

// NewOdometer needs both URLs: without the token endpoint no call can be authorised.
func NewOdometer(cfg OdometerConfig, opts Options) *Odometer {
	return &Odometer{
		cfg:  cfg,
		http: newHTTPClient(opts),
		g:    newGuard("odometer", cfg.URL != "" && cfg.TokenURL != "", opts, cfg.ClientSecret),
		now:  opts.withDefaults().Now,
	}
}

func (c *Odometer) Name() string { return "odometer" }

// Registration is one odometer reading.
type Registration struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	IsBreaking bool      `json:"is_breaking"`
	Value      float64   `json:"value"` // kilometres
	VIN        string    `json:"vin"`
}

// NewRegistration is a reading to add; TicketID is the caller's (the inspection report's ref_key).
type NewRegistration struct {
	Value    float64 `json:"value"`
	VIN      string  `json:"vin"`
	TicketID string  `json:"ticket_id"`
}

// Page selects part of a VIN's registrations; zero values take the API's defaults (25, 0).
type Page struct {
	Limit, Offset int
}

// Registrations is one page of a VIN's readings, newest first.
type Registrations struct {
	Query  map[string]any `json:"query"`
	Result []Registration `json:"result"`
	Total  int64          `json:"total"`
}

const odometerPath = "/v2/vehicles/odometer-registrations"

// Registrations lists a VIN's readings. The document's default order is ascending while it
// describes the result as descending; we ask for descending explicitly.
func (c *Odometer) Registrations(ctx context.Context, vin string, page Page) (Registrations, error) {
	return run(ctx, c.g, callOpts{op: "list"}, func(ctx context.Context) (Registrations, error) {
		v, err := NormalizeVIN(vin)
		if err != nil {
			return Registrations{}, c.g.fail("list", 0, "invalid_vin", err.Error(), ErrBadRequest, false)
		}
		if page.Limit < 0 || page.Limit > 1000 || page.Offset < 0 {
			return Registrations{}, c.g.fail("list", 0, "invalid_page", "limit must be 0..1000 and offset >= 0", ErrBadRequest, false)
		}
		q := url.Values{"vin": {v}, "sort_by[created_at]": {"desc"}}
		if page.Limit > 0 {
			q.Set("limit", strconv.Itoa(page.Limit))
		}
		if page.Offset > 0 {
			q.Set("offset", strconv.Itoa(page.Offset))
		}
		var out Registrations
		err = c.do(ctx, "list", http.MethodGet, odometerPath, q, nil, &out)
		return out, err
	})
}

// Registration fetches one reading by its id.
func (c *Odometer) Registration(ctx context.Context, id string) (Registration, error) {
	return run(ctx, c.g, callOpts{op: "get"}, func(ctx context.Context) (Registration, error) {
		if !isUUID(id) {
			return Registration{}, c.g.fail("get", 0, "invalid_id", "registration id must be a UUID", ErrBadRequest, false)
		}
		var out Registration
		err := c.do(ctx, "get", http.MethodGet, odometerPath+"/"+id, nil, nil, &out)
		return out, err
	})
}

// Register adds a reading and returns it with IsBreaking decided by the API.
func (c *Odometer) Register(ctx context.Context, r NewRegistration) (Registration, error) {
	return run(ctx, c.g, callOpts{op: "register", write: true}, func(ctx context.Context) (Registration, error) {
		v, err := NormalizeVIN(r.VIN)
		if err != nil {
			return Registration{}, c.g.fail("register", 0, "invalid_vin", err.Error(), ErrBadRequest, false)
		}
		if r.Value < 1 || r.Value > 1e9 {
			return Registration{}, c.g.fail("register", 0, "invalid_value", "value must be 1..1000000000 km", ErrBadRequest, false)
		}
		if !isUUID(r.TicketID) {
			return Registration{}, c.g.fail("register", 0, "invalid_ticket_id", "ticket_id must be a UUID", ErrBadRequest, false)
		}
		r.VIN = v
		var out Registration
		err = c.do(ctx, "register", http.MethodPost, odometerPath, nil, r, &out)
		return out, err
	})
}

// problem is the RFC 7807 body the document calls "problem response".
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (c *Odometer) do(ctx context.Context, op, method, path string, q url.Values, in any, out any) error {
	u, err := endpoint(c.cfg.URL, path)
	if err != nil {
		return c.g.configError(op, err)
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("odometer %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return c.g.configError(op, err)
	}
	tok, err := c.token(ctx, op)
	if err != nil {
		return err
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.g.send(c.http, op, req)
	if err != nil {
		return err
	}
	if resp.status < 200 || resp.status > 299 { // the document promises 200 and 201; any 2xx will do
		if resp.status == http.StatusUnauthorized {
			c.dropToken(tok)
		}
		var p problem
		_ = json.Unmarshal(resp.body, &p)
		kind, temporary := kindForStatus(resp.status)
		if resp.status < 400 {
			kind, temporary = ErrUnavailable, false
		}
		return c.g.fail(op, resp.status, p.Title, p.Detail, kind, temporary)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return c.g.fail(op, resp.status, "bad_payload", "undecodable answer: "+err.Error(), ErrUnavailable, false)
	}
	return nil
}

// token returns the cached access token, fetching a new one through our own *http.Client, within
// the call's deadline, when it is missing or about to expire.
func (c *Odometer) token(ctx context.Context, op string) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenValid() {
		return c.tok, nil
	}
	cc := clientcredentials.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, TokenURL: c.cfg.TokenURL}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err == nil {
		c.tok = tok
		return tok, nil
	}
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil {
		kind, temporary := kindForStatus(re.Response.StatusCode)
		if re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" {
			kind = ErrUnauthorized // RFC 6749 answers a bad secret with 400 invalid_client
		}
		return nil, c.g.fail(op, re.Response.StatusCode, "token: "+re.ErrorCode, re.ErrorDescription, kind, temporary)
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return nil, c.g.transportError(op, err)
	}
	return nil, c.g.fail(op, 0, "token", err.Error(), ErrUnavailable, false) // e.g. an answer without access_token
}

// tokenValid keeps a margin so a token does not expire between here and the API.
func (c *Odometer) tokenValid() bool {
	if c.tok == nil || c.tok.AccessToken == "" {
		return false
	}
	return c.tok.Expiry.IsZero() || c.now().Add(30*time.Second).Before(c.tok.Expiry)
}

// dropToken forgets a rejected token unless another call has already replaced it.
func (c *Odometer) dropToken(rejected *oauth2.Token) {
	c.mu.Lock()
	if c.tok == rejected {
		c.tok = nil
	}
	c.mu.Unlock()
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F'):
			return false
		}
	}
	return true
}

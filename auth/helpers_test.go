package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/internal/mail"
	"github.com/forteleasing/inspections/onec"
)

const (
	demoBIN = "200940026146"
	demoIIN = "790920300817"
	issuer  = "forteleasing-test"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// outbox records what the service e-mailed; fail makes the next sends fail like an SMTP server that is down.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail bool
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	if o.fail {
		return errors.New("smtp: 421 service not available")
	}
	return nil
}

var otpInBody = regexp.MustCompile(`OTP: (\d+)`)

func (o *outbox) lastOTP(t *testing.T) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == 0 {
		t.Fatal("no e-mail was sent")
	}
	m := otpInBody.FindStringSubmatch(o.msgs[len(o.msgs)-1].Text)
	if m == nil {
		t.Fatalf("no OTP in the last e-mail: %q", o.msgs[len(o.msgs)-1].Text)
	}
	return m[1]
}

func (o *outbox) count() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.msgs) }

type env struct {
	t     *testing.T
	db    *database.DB
	app   *fiber.App
	clock *clock
	mail  *outbox
	otp   config.OTPConfig
	log   *bytes.Buffer
}

// newEnv serves the auth routes on db with the demo companies loaded; tune adjusts the OTP limits.
func newEnv(t *testing.T, db *database.DB, tune ...func(*config.OTPConfig)) *env {
	t.Helper()
	e := &env{t: t, db: db, clock: &clock{t: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}, mail: &outbox{}, log: &bytes.Buffer{}}
	e.otp = config.OTPConfig{Digits: 4, TTL: 10 * time.Minute, MaxAttempts: 5, DailyFailures: 30, Cooldown: time.Minute, HourlyPerBIN: 10, HourlyPerIP: 30}
	for _, f := range tune {
		f(&e.otp)
	}
	logger := slog.New(slog.NewJSONHandler(e.log, nil))
	tokens := auth.NewTokens(testSecret, issuer, 5*time.Minute, 30*24*time.Hour, e.clock.Now)
	svc := auth.NewService(auth.NewStore(db), tokens, e.mail, auth.Options{OTP: e.otp, RefreshReuseGrace: 10 * time.Second, Now: e.clock.Now, Logger: logger})
	// app.Test's connections come from 0.0.0.0: trusting it lets each test name its client's address.
	proxies := httpx.Proxies{Header: "X-Forwarded-For", Trusted: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}}
	e.app = httpx.NewApp(logger, httpx.AppOptions{BodyLimit: 1 << 20, Proxies: proxies})
	h := auth.NewHandler(svc, auth.EmptyOverview{}, 4)
	h.Routes(e.app)
	e.app.Get("/me", h.RequireUser, func(c *fiber.Ctx) error {
		return httpx.OK(c, fiber.Map{"user_id": auth.CurrentPrincipal(c).UserID})
	})
	if err := onec.NewService(onec.NewStore(db), onec.Options{Now: e.clock.Now}).LoadDemo(context.Background()); err != nil {
		t.Fatalf("load demo companies: %v", err)
	}
	return e
}

type answer struct {
	Status string         `json:"status"`
	Data   map[string]any `json:"data"`
	code   int
	header http.Header
}

func (a answer) str(key string) string { s, _ := a.Data[key].(string); return s }

func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	if req.Header.Get("X-Forwarded-For") == "" {
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
	}
	resp, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON: %s", req.Method, req.URL, body)
	}
	a.code, a.header = resp.StatusCode, resp.Header
	if a.code >= 500 {
		e.t.Logf("server log:\n%s", e.log.String())
	}
	if code, _ := a.Data["code"].(float64); int(code) != resp.StatusCode {
		e.t.Fatalf("data.code %v differs from HTTP status %d", a.Data["code"], resp.StatusCode)
	}
	return a
}

func jsonReq(method, path string, body any) *http.Request {
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(method, path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func formReq(path string, vals map[string]string) *http.Request {
	f := url.Values{}
	for k, v := range vals {
		f.Set(k, v)
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(f.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func multipartReq(path string, vals map[string]string) *http.Request {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range vals {
		_ = w.WriteField(k, v)
	}
	w.Close()
	r := httptest.NewRequest(http.MethodPost, path, &buf)
	r.Header.Set("Content-Type", w.FormDataContentType())
	return r
}

func directorBody(device string) map[string]any {
	return map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}
}

func employeeBody(device, mobile, name string) map[string]any {
	return map[string]any{"role_id": 2, "uuid": device, "FCM": "fcm-" + device, "mobile": mobile, "first_name": name}
}

// requestOTP asks for a code and returns it as the company's mailbox received it.
func (e *env) requestOTP(biin string, body map[string]any) string {
	e.t.Helper()
	a := e.do(jsonReq(http.MethodPost, "/biin/"+biin, body))
	if a.code != http.StatusOK {
		e.t.Fatalf("request OTP: %d %v", a.code, a.Data)
	}
	return e.mail.lastOTP(e.t)
}

func basicLogin(login, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
}

func (e *env) loginReq(header string) answer {
	r := httptest.NewRequest(http.MethodPost, "/auth", nil)
	r.Header.Set("Authorization", header)
	return e.do(r)
}

// login runs OTP → /auth for a device and returns the answer.
func (e *env) login(biin string, body map[string]any) answer {
	e.t.Helper()
	code := e.requestOTP(biin, body)
	a := e.loginReq(basicLogin(biin+"-"+body["uuid"].(string), code))
	if a.code != http.StatusOK {
		e.t.Fatalf("login: %d %v", a.code, a.Data)
	}
	return a
}

func (e *env) withBearer(method, path, token string, body io.Reader) answer {
	r := httptest.NewRequest(method, path, body)
	r.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return e.do(r)
}

func (e *env) refresh(token string) answer {
	return e.withBearer(http.MethodPost, "/refresh_token", token, nil)
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func wantError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.code != status || a.Status != "error" || a.str("error") != code {
		t.Fatalf("want %d %s, got %d %v", status, code, a.code, a.Data)
	}
}

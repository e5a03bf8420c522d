package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
)

// Handler serves the login endpoints and provides the access middleware for the other features.
type Handler struct {
	svc       *Service
	overview  inspections.Overview
	otpDigits int
}

func NewHandler(svc *Service, overview inspections.Overview, otpDigits int) *Handler {
	return &Handler{svc: svc, overview: overview, otpDigits: otpDigits}
}

// Routes registers the public login endpoints and the session endpoints behind the access check.
func (h *Handler) Routes(r fiber.Router) {
	r.Post("/biin/:biin", h.requestOTP)
	r.Post("/auth", h.login)
	r.Post("/refresh_token", h.refresh)
	r.Post("/logout", h.RequireUser, h.logout)
	r.Post("/device/fcm", h.RequireUser, h.setFCM)
}

func (h *Handler) requestOTP(c *fiber.Ctx) error {
	biin := c.Params("biin")
	if !ValidBIIN(biin) {
		return apperr.New(apperr.Invalid, "invalid_biin", "BIN/IIN must be 12 digits with a valid check digit")
	}
	v, err := httpx.BodyValues(c)
	if err != nil {
		return err
	}
	var fields apperr.FieldList
	req := OTPRequest{BIIN: utils.CopyString(biin), ClientIP: utils.CopyString(c.IP())}
	req.Role = v.Int("role_id", &fields)
	if req.Role != 0 && req.Role != roleDirector && req.Role != roleEmployee {
		fields.Add("role_id", "must be 1 (director) or 2 (employee)")
	}
	req.UUID = v.Required("uuid", maxDeviceID, &fields)
	if strings.ContainsAny(req.UUID, ":\x00") {
		fields.Add("uuid", "must not contain ':'")
	}
	req.FCM = v.Required("FCM", 4096, &fields)
	if req.Role == roleEmployee {
		req.Mobile = normalizeMobile(v.Required("mobile", 32, &fields), &fields)
		req.FirstName = v.Required("first_name", 100, &fields)
	}
	if err := fields.Err(apperr.Invalid, "some fields are missing or invalid"); err != nil {
		return err
	}
	masked, err := h.svc.RequestOTP(c.UserContext(), req)
	if err != nil {
		return err
	}
	return httpx.Respond(c, fiber.StatusOK, "OTP is sent to your email.", fiber.Map{"email": masked})
}

func (h *Handler) login(c *fiber.Ctx) error {
	l, ok := ParseBasicLogin(c.Get(fiber.HeaderAuthorization), h.otpDigits)
	if !ok {
		return apperr.New(apperr.Unauthorized, "invalid_credentials",
			"send Authorization: Basic base64(BIN-IMEI:OTP); BIN-IMEI and OTP may each be base64-encoded")
	}
	ss, err := h.svc.Login(c.UserContext(), l)
	if err != nil {
		return err
	}
	return h.answer(c, ss)
}

func (h *Handler) refresh(c *fiber.Ctx) error {
	raw, ok := bearer(c)
	if !ok {
		return apperr.New(apperr.Unauthorized, "invalid_refresh_token", "send Authorization: Bearer <refresh token>")
	}
	ss, err := h.svc.Refresh(c.UserContext(), raw)
	if err != nil {
		return err
	}
	return h.answer(c, ss)
}

func (h *Handler) logout(c *fiber.Ctx) error {
	if err := h.svc.Logout(c.UserContext(), CurrentPrincipal(c)); err != nil {
		return err
	}
	return httpx.Respond(c, fiber.StatusOK, "Logged out.", nil)
}

func (h *Handler) setFCM(c *fiber.Ctx) error {
	v, err := httpx.BodyValues(c)
	if err != nil {
		return err
	}
	var fields apperr.FieldList
	token := v.Required("FCM", 4096, &fields)
	if err := fields.Err(apperr.Invalid, "FCM is required"); err != nil {
		return err
	}
	if err := h.svc.SetFCM(c.UserContext(), CurrentPrincipal(c), token); err != nil {
		return err
	}
	return httpx.Respond(c, fiber.StatusOK, "FCM token updated.", nil)
}

// loginAnswer is the seed's /auth answer; key names follow the seed exactly.
type loginAnswer struct {
	AccessToken  string                  `json:"access_token"`
	RefreshToken string                  `json:"refresh_token"`
	Mobile       string                  `json:"mobile"`
	Email        string                  `json:"email"`
	FirstName    string                  `json:"first_name"`
	LastName     string                  `json:"last_name"`
	PatronicName string                  `json:"patronic_name"`
	BIIN         string                  `json:"biin"`
	CompanyName  string                  `json:"company_name"`
	UserType     string                  `json:"user_type"`
	Employees    *[]inspections.Employee `json:"employees,omitempty"` // the director's only; [] when none
	// reports, info and filter follow, spliced in by answer: they usually arrive encoded from a cache.
}

func (h *Handler) answer(c *fiber.Ctx, ss Session) error {
	d, err := h.overview.Overview(c.UserContext(), ss.Principal, ss.Versions)
	if err != nil {
		return err
	}
	a := loginAnswer{
		AccessToken: ss.Access, RefreshToken: ss.Refresh,
		Mobile: ss.Mobile, Email: ss.CompanyEmail, FirstName: ss.FirstName, LastName: ss.LastName, PatronicName: ss.PatronicName,
		BIIN: ss.BIIN, CompanyName: ss.CompanyName, UserType: roleTitle(ss.Role),
	}
	if ss.IsDirector() {
		employees := d.Employees
		if employees == nil {
			employees = []inspections.Employee{}
		}
		a.Employees = &employees
	}
	head, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if d.Blocks != nil {
		return httpx.OKSpliced(c, head[:len(head)-1], d.Blocks)
	}
	// Splicing the blocks in as they are saves re-validating ~100 KB of cached JSON per login or refresh
	// (what encoding/json does with a json.RawMessage): that was half of a refresh's CPU.
	body := bytes.NewBuffer(make([]byte, 0, len(head)+64<<10))
	body.Write(head[:len(head)-1])
	for _, block := range []struct {
		key string
		raw json.RawMessage
	}{{"reports", d.Reports}, {"info", d.Info}, {"filter", d.Filter}} {
		if len(block.raw) == 0 {
			return fmt.Errorf("auth: the login answer's %s block is empty", block.key)
		}
		body.WriteString(`,"` + block.key + `":`)
		body.Write(block.raw)
	}
	body.WriteByte('}')
	return httpx.OKEncoded(c, body.Bytes())
}

const principalKey = "auth.principal"

// RequireUser admits requests with a valid access token of a live session.
func (h *Handler) RequireUser(c *fiber.Ctx) error {
	raw, ok := bearer(c)
	if !ok {
		return apperr.New(apperr.Unauthorized, "missing_token", "send Authorization: Bearer <access token>")
	}
	p, lists, err := h.svc.AuthenticateWithLists(c.UserContext(), raw)
	if err != nil {
		return err
	}
	c.Locals(principalKey, p)
	c.Locals(listVersionsKey, lists)
	return c.Next()
}

const listVersionsKey = "auth.list_versions"

// CurrentListVersions returns the company's report-list versions the access check read for this
// request (RequireUser); zero when it did not run.
func CurrentListVersions(c *fiber.Ctx) inspections.ListVersions {
	v, _ := c.Locals(listVersionsKey).(inspections.ListVersions)
	return v
}

// RequireDirector admits only the company's director; use it after RequireUser.
func RequireDirector(c *fiber.Ctx) error {
	if !CurrentPrincipal(c).IsDirector() {
		return apperr.New(apperr.Forbidden, "director_only", "only the company's director may do this")
	}
	return c.Next()
}

// CurrentPrincipal returns the caller admitted by RequireUser.
func CurrentPrincipal(c *fiber.Ctx) Principal {
	p, _ := c.Locals(principalKey).(Principal)
	return p
}

func bearer(c *fiber.Ctx) (string, bool) {
	h := c.Get(fiber.HeaderAuthorization)
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// normalizeMobile keeps digits and a leading +, so "+7 (702) 123-45-67" and "+77021234567" are one employee.
func normalizeMobile(s string, fields *apperr.FieldList) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			fields.Add("mobile", "must be a phone number")
			return ""
		}
	}
	out := b.String()
	if n := len(strings.TrimPrefix(out, "+")); n < 10 || n > 15 {
		fields.Add("mobile", "must have 10 to 15 digits")
	}
	return out
}

// EmptyOverview answers empty blocks with every key present, for a service without the reports feature.
type EmptyOverview struct{}

func (EmptyOverview) Overview(context.Context, Principal, inspections.ListVersions) (inspections.Dashboard, error) {
	return inspections.Dashboard{
		Employees: []inspections.Employee{},
		Reports:   json.RawMessage(`{"important":[],"general":[]}`),
		Info:      json.RawMessage(`{"by_vehicle_type_code":{}}`),
		Filter:    json.RawMessage(`{"status":{},"vehicle_type":[],"date_range":{}}`),
	}, nil
}

package onec

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/bodytext"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/reports"
)

// Handler serves /1c/*.
type Handler struct {
	svc              *Service
	userSum, passSum [32]byte
}

func NewHandler(svc *Service, user, password string) *Handler {
	return &Handler{svc: svc, userSum: sha256.Sum256([]byte(user)), passSum: sha256.Sum256([]byte(password))}
}

// Routes registers the 1C endpoints under r, all behind HTTP Basic.
func (h *Handler) Routes(r fiber.Router) {
	r.Put("/1c/companies", h.RequireOneC, h.putCompanies)
	r.Put("/1c/vehicle-types", h.RequireOneC, h.putVehicleTypes)
	r.Put("/1c/vehicles", h.RequireOneC, h.putVehicles)
	r.Put("/1c/reports", h.RequireOneC, h.putReports)
	r.Get("/1c/reports", h.RequireOneC, h.feed)
	r.Post("/1c/reports/:ref_key/decision", h.RequireOneC, h.decide)
}

// RequireOneC admits 1C's HTTP Basic credentials. It compares hashes of the credentials in constant
// time, so neither their content nor their length leaks.
func (h *Handler) RequireOneC(c *fiber.Ctx) error {
	user, pass, ok := basicCredentials(c.Get(fiber.HeaderAuthorization))
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], h.userSum[:])
	passOK := subtle.ConstantTimeCompare(p[:], h.passSum[:])
	if !ok || userOK&passOK != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="forteleasing-1c", charset="UTF-8"`)
		return apperr.New(apperr.Unauthorized, "invalid_credentials", "1C credentials are missing or wrong")
	}
	return c.Next()
}

func basicCredentials(header string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

func (h *Handler) putCompanies(c *fiber.Ctx) error {
	items, err := decodeBatch[Company](c.Body(), c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, err := h.svc.UpsertCompanies(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) putVehicleTypes(c *fiber.Ctx) error {
	items, err := decodeBatch[VehicleType](c.Body(), c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, err := h.svc.UpsertVehicleTypes(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) putVehicles(c *fiber.Ctx) error {
	items, err := decodeBatch[Vehicle](c.Body(), c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, err := h.svc.UpsertVehicles(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) putReports(c *fiber.Ctx) error {
	items, err := decodeBatch[Report](c.Body(), c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, _, err := h.svc.UpsertReports(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) feed(c *fiber.Ctx) error {
	q, err := ParseFeedQuery(c.Query("status"), c.Query("after"), c.Query("limit"))
	if err != nil {
		return err
	}
	page, err := h.svc.Feed(c.UserContext(), q)
	if err != nil {
		return err
	}
	return httpx.OK(c, page)
}

// decisionBody names the keys of a decision, which must be spelt exactly (CONTRACT §8).
type decisionBody struct {
	StatusCode   int    `json:"status_code"`
	RejectReason string `json:"reject_reason"`
}

func (h *Handler) decide(c *fiber.Ctx) error {
	v, err := httpx.StrictBodyValues(c, bodytext.KeysOf[decisionBody]())
	if err != nil {
		return err
	}
	var fields apperr.FieldList
	status := v.Int("status_code", &fields)
	if err := fields.Err(apperr.Invalid, "bad decision"); err != nil {
		return err
	}
	d, err := ParseDecision(httpx.KeyParam(c, "ref_key"), status, v["reject_reason"])
	if err != nil {
		return err
	}
	res, err := h.svc.Decide(c.UserContext(), d)
	if err != nil {
		return err
	}
	return httpx.OK(c, fiber.Map{"ref_key": res.RefKey, "status_code": res.StatusCode,
		"status_title": reports.StatusTitle(res.StatusCode), "reject_reason": res.RejectReason})
}

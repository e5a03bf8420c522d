package onec

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
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
	g := r.Group("/1c", h.requireOneC)
	g.Put("/companies", h.putCompanies)
	g.Put("/vehicle-types", h.putVehicleTypes)
	g.Put("/vehicles", h.putVehicles)
	g.Put("/reports", h.putReports)
}

// requireOneC compares hashes of the credentials in constant time, so neither their content nor their length leaks.
func (h *Handler) requireOneC(c *fiber.Ctx) error {
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
	items, err := decodeBatch[Company](c.Body())
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
	items, err := decodeBatch[VehicleType](c.Body())
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
	items, err := decodeBatch[Vehicle](c.Body())
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
	items, err := decodeBatch[Report](c.Body())
	if err != nil {
		return err
	}
	res, _, err := h.svc.UpsertReports(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

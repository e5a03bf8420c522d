package vincheck

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/vehicles/provider"
)

// Handler serves the on-demand check for 1C and the VAG history service's callback.
type Handler struct {
	s              *Service
	callbackSecret string
}

func NewHandler(s *Service, callbackSecret string) *Handler {
	return &Handler{s: s, callbackSecret: callbackSecret}
}

// Routes registers POST /1c/vehicles/{vehicle_guid}/check behind requireOneC, and the callback.
func (h *Handler) Routes(r fiber.Router, requireOneC fiber.Handler) {
	r.Post("/1c/vehicles/:vehicle_guid/check", requireOneC, h.check)
	r.Post("/providers/vagvin/callback", h.callback)
}

func (h *Handler) check(c *fiber.Ctx) error {
	res, err := h.s.CheckVehicle(c.UserContext(), httpx.KeyParam(c, "vehicle_guid"))
	if err != nil {
		return err
	}
	return httpx.OK(c, struct {
		VINCheck Result `json:"vin_check"`
	}{res})
}

func (h *Handler) callback(c *fiber.Ctx) error {
	presented := c.Get(provider.CallbackSecretHeader)
	err := provider.CheckCallbackSecret(presented, h.callbackSecret) // before a byte of the body is read
	if err == nil {
		var body []byte
		if body, err = httpx.Body(c); err != nil {
			return err
		}
		err = h.s.Callback(c.UserContext(), presented, body, h.callbackSecret)
	}
	switch {
	case err == nil:
		return httpx.Respond(c, fiber.StatusOK, "Result received.", nil)
	case errors.Is(err, provider.ErrNotConfigured):
		return apperr.New(apperr.NotFound, "not_configured", "the VAG history service is not configured here")
	case errors.Is(err, provider.ErrUnauthorized):
		return apperr.New(apperr.Unauthorized, "invalid_secret", "wrong or missing "+provider.CallbackSecretHeader)
	case errors.Is(err, provider.ErrBadRequest):
		return apperr.Wrap(apperr.Invalid, err, "the callback body is neither a JSON object nor a form")
	default:
		return err
	}
}

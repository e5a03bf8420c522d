package vehicles

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/skip2/go-qrcode"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
)

// QR sizes in pixels (CONTRACT §5).
const (
	qrDefault = 256
	qrMin     = 128
	qrMax     = 1024
)

// QRRoutes registers GET /vehicle/qr/{vehicle_guid} behind requireOneC: the QR is printed by 1C staff.
func (h *Handler) QRRoutes(r fiber.Router, requireOneC fiber.Handler) {
	r.Get("/vehicle/qr/:vehicle_guid", requireOneC, h.qr)
}

func (h *Handler) qr(c *fiber.Ctx) error {
	size := qrDefault
	if s := c.Query("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < qrMin || n > qrMax {
			var fields apperr.FieldList
			fields.Add("size", "must be a whole number of pixels from %d to %d", qrMin, qrMax)
			return fields.Err(apperr.Invalid, "bad QR size")
		}
		size = n
	}
	guid := httpx.KeyParam(c, "vehicle_guid")
	ok, err := h.store.Exists(c.UserContext(), guid)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "vehicle_not_found", "no such vehicle")
	}
	png, err := qrcode.Encode(guid, qrcode.Medium, size)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "image/png")
	c.Set(fiber.HeaderCacheControl, "private, max-age=86400")
	return c.Send(png)
}
